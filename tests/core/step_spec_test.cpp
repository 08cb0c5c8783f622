// The typed step spec against hand-written JSON and texts: every choice's name round-trips through its one
// table, input specs parse to the dims and ranges written, and each refusal names the setting (or the file).

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/step_spec.h"

namespace lowmem {
namespace {

template <typename E>
void expectRoundTrip(std::initializer_list<std::pair<E, const char*>> expected) {
  ASSERT_EQ(choicesOf<E>().size(), expected.size());
  for (const auto& [value, name] : expected) {
    EXPECT_EQ(nameOf(value), name);
    EXPECT_EQ(choiceFrom<E>(name, "x"), value);
  }
}

TEST(StepChoices, EveryEnumeratorHasOneNameAndParsesBack) {
  expectRoundTrip<LossKind>({{LossKind::kMean, "mean"},
                             {LossKind::kSum, "sum"},
                             {LossKind::kOutput, "output"},
                             {LossKind::kCrossEntropy, "cross-entropy"}});
  expectRoundTrip<OptimizerKind>({{OptimizerKind::kSgd, "sgd"}, {OptimizerKind::kAdamW, "adamw"}});
  expectRoundTrip<Dtype>({{Dtype::kFloat32, "float32"},
                          {Dtype::kBFloat16, "bfloat16"},
                          {Dtype::kFloat16, "float16"},
                          {Dtype::kFloat64, "float64"},
                          {Dtype::kInt64, "int64"},
                          {Dtype::kInt32, "int32"},
                          {Dtype::kBool, "bool"}});
  expectRoundTrip<DeviceKind>({{DeviceKind::kCpu, "cpu"}, {DeviceKind::kCuda, "cuda"}});
  expectRoundTrip<AmpKind>({{AmpKind::kBf16, "bf16"}, {AmpKind::kFp16, "fp16"}});
  EXPECT_EQ(choiceList<OptimizerKind>(), "sgd or adamw");
  EXPECT_EQ(floatingDtypeList(), "float32, bfloat16, float16 or float64");
}

TEST(StepChoices, AnUnknownNameIsRefusedNamingTheSettingAndTheChoices) {
  try {
    choiceFrom<DeviceKind>("tpu", "device");
    FAIL() << "expected SettingError";
  } catch (const SettingError& e) {
    EXPECT_EQ(e.setting(), "device");
    EXPECT_EQ(e.problem(), "'tpu' is not one of cpu, cuda");
    EXPECT_EQ(std::string(e.what()), "device: 'tpu' is not one of cpu, cuda");
  }
}

TEST(InputSpecText, ParsesNameDtypeDimsAndRange) {
  const auto x = parseInputSpec("pixel_values:float32[2, 3,224,224]");
  EXPECT_EQ(x.name, "pixel_values");
  EXPECT_EQ(x.dtype, Dtype::kFloat32);
  EXPECT_EQ(x.shape, (std::vector<int64_t>{2, 3, 224, 224}));
  EXPECT_FALSE(x.range);
  EXPECT_EQ(x.text(), "pixel_values:float32[2,3,224,224]");
  const auto ids = parseInputSpec("ids:int64[2,128]:-5..32000");
  EXPECT_EQ(ids.dtype, Dtype::kInt64);
  ASSERT_TRUE(ids.range);
  EXPECT_EQ(ids.range->first, -5);
  EXPECT_EQ(ids.range->second, 32000);
  EXPECT_EQ(parseInputSpec(ids.text()).text(), ids.text());
  EXPECT_TRUE(parseInputSpec("scalar:float64[]").shape.empty());
}

std::string refusal(const std::string& text) {
  try {
    parseInputSpec(text);
  } catch (const SettingError& e) {
    EXPECT_EQ(e.setting(), "inputs");
    return e.problem();
  }
  return "accepted";
}

TEST(InputSpecText, RefusalsSayWhatIsWrong) {
  EXPECT_NE(refusal("x:float32[2,3").find("is not NAME:DTYPE[d0,d1,...]"), std::string::npos);
  EXPECT_EQ(refusal("x:complex[2]"),
            "input x: 'complex' is not one of float32, bfloat16, float16, float64, "
            "int64, int32, bool");
  EXPECT_EQ(refusal("x:float32[2,,3]"), "'x:float32[2,,3]' has an empty dimension");
  EXPECT_EQ(refusal("x:float32[2,0]"), "'x:float32[2,0]' has dimension 0 (expected 1 or more)");
  EXPECT_EQ(refusal("x:float32[2]:0..4"), "'x:float32[2]:0..4': a LOW..HIGH range needs an integer dtype");
  EXPECT_EQ(refusal("x:int64[2]:4..4"), "'x:int64[2]:4..4': empty range");
}

TEST(StepSpecJson, RoundTripsEveryField) {
  StepSpec s;
  s.inputs = {parseInputSpec("ids:int64[2,16]:0..100"), parseInputSpec("mask:bool[2,16]")};
  s.trainable = TrainableSelection::parse("^encoder\\.");
  s.loss = LossKind::kCrossEntropy;
  s.optimizer = OptimizerKind::kAdamW;
  s.lr = 0.25;
  s.warmupSteps = 3;
  s.threads = 7;
  s.graphExecutorOptimize = true;
  s.seed = 42;
  s.dtype = Dtype::kFloat32;
  s.device = DeviceKind::kCuda;
  s.amp = AmpKind::kFp16;
  s.recordShapes = true;
  const auto j = s.toJson();
  EXPECT_EQ(j["loss"], "cross-entropy");
  EXPECT_EQ(j["amp"], "fp16");
  EXPECT_EQ(j["trainable"], "^encoder\\.");
  const auto back = StepSpec::fromJson(j, "s.json");
  EXPECT_EQ(back.toJson(), j);
  EXPECT_EQ(back.trainable.mode(), TrainableSelection::Mode::kRegex);
  EXPECT_TRUE(back.trainable.trains("encoder.fc.weight", false));
  EXPECT_EQ(back.amp, AmpKind::kFp16);
  EXPECT_EQ(back.dtype, Dtype::kFloat32);
  // The defaults write "" for the optional choices and read back as none.
  const auto defaults = StepSpec::fromJson(StepSpec().toJson(), "d.json");
  EXPECT_FALSE(defaults.dtype);
  EXPECT_FALSE(defaults.amp);
  EXPECT_EQ(defaults.trainable.mode(), TrainableSelection::Mode::kSaved);
}

std::string jsonRefusal(const nlohmann::json& j) {
  try {
    StepSpec::fromJson(j, "s.json");
  } catch (const SettingError& e) {
    return "SettingError: " + std::string(e.what());  // must not happen: the file is the subject
  } catch (const InputError& e) {
    return e.what();
  }
  return "accepted";
}

TEST(StepSpecJson, RefusalsNameTheFileAndTheField) {
  EXPECT_EQ(jsonRefusal({{"loss", "l1"}}),
            "s.json: loss: 'l1' is not one of mean, sum, output, cross-entropy");
  EXPECT_EQ(jsonRefusal({{"trainable", "(x"}}).rfind("s.json: trainable: '(x' is not a valid regex", 0), 0u);
  EXPECT_EQ(
      jsonRefusal({{"dtype", "int32"}}),
      "s.json: dtype: 'int32' is not a floating dtype (expected float32, bfloat16, float16 or float64)");
  EXPECT_EQ(
      jsonRefusal({{"amp", "bf16"}, {"dtype", "float64"}}),
      "s.json: amp: autocast keeps float32 master weights: leave the dtype unset or float32, not float64");
  EXPECT_EQ(jsonRefusal({{"lr", 0}}), "s.json: lr: must be positive");
  EXPECT_EQ(jsonRefusal({{"inputs", {"x:float32[1]", "x:float32[2]"}}}),
            "s.json: inputs: input 'x' given twice");
  EXPECT_EQ(jsonRefusal({{"batch", 4}}).rfind("s.json: unknown step spec key 'batch' (known: ", 0), 0u);
  EXPECT_EQ(jsonRefusal({{"lr", "fast"}}).rfind("s.json: invalid step spec (", 0), 0u);
  EXPECT_EQ(jsonRefusal(nlohmann::json::array()), "s.json: invalid step spec (expected a JSON object)");
}

TEST(StepSpecValidate, RangesAndCombinationsNameTheirSetting) {
  auto setting = [](const StepSpec& s) -> std::string {
    try {
      s.validate();
    } catch (const SettingError& e) {
      return e.setting();
    }
    return "valid";
  };
  StepSpec s;
  EXPECT_EQ(setting(s), "valid");
  s.warmupSteps = 101;
  EXPECT_EQ(setting(s), "warmup_steps");
  s = StepSpec();
  s.threads = -1;
  EXPECT_EQ(setting(s), "threads");
  s = StepSpec();
  s.inputs = {parseInputSpec("x:float32[1]")};
  s.inputsFile = "in.pt";
  EXPECT_EQ(setting(s), "inputs_file");
  s = StepSpec();
  s.amp = AmpKind::kBf16;
  s.dtype = Dtype::kFloat32;
  EXPECT_EQ(setting(s), "valid");
}

}  // namespace
}  // namespace lowmem
