// `lowmem validate` on the bundled models in reduced form (30 steps): both models learn and end within 5% of
// each other; a deliberately wrong backward (ReGELU2 with its levels' sign flipped) is caught; the curves
// round-trip through a session.

#include <gtest/gtest.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/library.h>
#include <torch/script.h>

#include <filesystem>
#include <memory>

#include "core/session_store.h"
#include "models/presets.h"
#include "patcher/module_paths.h"
#include "profiler/model_loader.h"
#include "service/swap_run.h"
#include "service/validate_run.h"
#include "tests/kernels/op_handles.h"
#include "tests/support/bundled_model_dir.h"

namespace {

// ReGELU2's forward and codes, with the derivative levels negated: the wrong backward validate must catch.
struct FlippedGelu : torch::autograd::Function<FlippedGelu> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    auto [y, packed] = lowmem::testing::activationForward(x, "gelu", 2);
    ctx->save_for_backward({packed});
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    // The op's own backward (grad times the level of each element's code), negated: every level flipped.
    const auto packed = ctx->get_saved_variables()[0];
    return {lowmem::testing::op<at::Tensor(const at::Tensor&, const at::Tensor&, c10::string_view, int64_t)>(
                "lowmem::activation_backward")
                .call(grads[0].contiguous(), packed, "gelu", 2)
                .neg()};
  }
};

at::Tensor flippedGelu(const at::Tensor& x) {
  return FlippedGelu::apply(x);
}

TORCH_LIBRARY(lowmem_test, m) {
  m.def("flipped_regelu2(Tensor x) -> Tensor", &flippedGelu);
}

}  // namespace

namespace lowmem {
namespace {

namespace fs = std::filesystem;

class Validate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { dir_ = std::make_unique<testing::BundledModelDir>("lowmem-validate-test"); }
  static void TearDownTestSuite() { dir_.reset(); }
  static std::string path(const std::string& name) { return dir_->path(name); }
  static std::string built(const std::string& preset) { return dir_->built(preset); }
  // LoRA with AdamW, batches large enough that 30 steps of both models are comparable.
  static StepSpec spec(const std::string& input) {
    StepSpec s;
    s.trainable = TrainableSelection::parse("lora");
    s.optimizer = OptimizerKind::kAdamW;
    s.lr = 0.003;
    s.inputs = {parseInputSpec(input)};
    return s;
  }
  static ValidateOptions reduced() {
    ValidateOptions o;
    o.steps = 30;
    o.tolerance = 0.05;
    return o;
  }
  static void expectBothLearnAndAgree(const Validation& v) {
    EXPECT_TRUE(v.baselineLearned);
    EXPECT_TRUE(v.patchedLearned);
    EXPECT_GE(v.lossRatio, 0.95);
    EXPECT_LE(v.lossRatio, 1.05);
    EXPECT_TRUE(v.passed);
    EXPECT_FALSE(v.rewrites.empty());
    ASSERT_EQ(v.steps.size(), 30u);
    // Identical weights and data: the first losses agree to rounding (the forward is exact), and the
    // 2-bit derivative keeps the gradients close but not identical.
    EXPECT_NEAR(v.steps[0].patchedLoss, v.steps[0].baselineLoss, 1e-4 * std::abs(v.steps[0].baselineLoss));
    EXPECT_GT(v.steps[0].gradientCosine, 0.9);
    EXPECT_LT(v.steps[0].gradientCosine, 1.0 - 1e-6);
  }
  static std::unique_ptr<testing::BundledModelDir> dir_;
};

std::unique_ptr<testing::BundledModelDir> Validate::dir_;

TEST_F(Validate, VitTinyLoraClassificationTrainsLikeTheOriginal) {
  const auto v = validateModel(built("vit-tiny"), spec("x:float32[32,3,32,32]"), reduced());
  EXPECT_NE(v.task.find("classification"), std::string::npos) << v.task;
  expectBothLearnAndAgree(v);
}

TEST_F(Validate, LlamaTinyLoraNextTokenTrainsLikeTheOriginal) {
  const auto v = validateModel(built("llama-tiny"), spec("input_ids:int64[16,64]:0..256"), reduced());
  EXPECT_NE(v.task.find("next-token"), std::string::npos) << v.task;
  expectBothLearnAndAgree(v);
}

TEST_F(Validate, BertTinyLoraTokenClassificationTrainsLikeTheOriginal) {
  const auto v = validateModel(built("bert-tiny"), spec("input_ids:int64[16,64]:0..1024"), reduced());
  EXPECT_NE(v.task.find("token sequence"), std::string::npos) << v.task;
  expectBothLearnAndAgree(v);
}

TEST_F(Validate, ASignFlippedBackwardFailsTheVerdict) {
  const auto model = built("vit-tiny");
  const auto s = spec("x:float32[32,3,32,32]");
  patchModelFile(model, path("vit-right.pt"), s, {"gelu"});
  auto wrong = loadModel(path("vit-right.pt"));
  int swapped = 0;
  for (const auto& m : wrong.modules()) {
    auto graph = m.get_method("forward").graph();
    for (auto* n : graph->nodes()) {
      if (n->kind() != c10::Symbol::fromQualString("lowmem::regelu2")) continue;
      torch::jit::WithInsertPoint guard(n);
      auto* out = graph->insert(c10::Symbol::fromQualString("lowmem_test::flipped_regelu2"), {n->input(0)});
      out->setType(n->output()->type());
      n->output()->replaceAllUsesWith(out);
      n->destroy();
      ++swapped;
      break;
    }
  }
  ASSERT_GT(swapped, 0);
  wrong.save(path("vit-wrong.pt"));
  auto options = reduced();
  options.patchedPath = path("vit-wrong.pt");
  const auto v = validateModel(model, s, options);
  EXPECT_FALSE(v.passed) << "loss ratio " << v.lossRatio;
  EXPECT_LT(v.steps[0].gradientCosine, 0.9);
  // The same model with the right backward passes, so the failure is the flipped sign's.
  options.patchedPath = path("vit-right.pt");
  EXPECT_TRUE(validateModel(model, s, options).passed);
}

TEST_F(Validate, CurvesRoundTripThroughASession) {
  auto options = reduced();
  options.steps = 8;
  const auto v = validateModel(built("llama-tiny"), spec("input_ids:int64[4,32]:0..256"), options);
  const auto db = path("validation.db");
  SessionWriter(db).writeValidation(v);
  SessionWriter(db).writeValidation(v);  // appends
  const auto back = SessionReader(db).validations();
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[1].task, v.task);
  EXPECT_EQ(back[1].rewrites, v.rewrites);
  ASSERT_EQ(back[1].steps.size(), 8u);
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(back[1].steps[i].baselineLoss, v.steps[i].baselineLoss);
    EXPECT_EQ(back[1].steps[i].gradientCosine, v.steps[i].gradientCosine);
  }
  EXPECT_EQ(back[1].lossRatio, v.lossRatio);
  EXPECT_EQ(back[1].passed, v.passed);
}

}  // namespace
}  // namespace lowmem
