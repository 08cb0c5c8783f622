// Example inputs reach forward by name (issue 19.6): specs given out of order land on their arguments, and a
// name forward does not take is refused instead of filling the next position.

#include <gtest/gtest.h>
#include <torch/script.h>

#include "core/error.h"
#include "profiler/step_inputs.h"

namespace lowmem {
namespace {

torch::jit::Module twoArguments() {
  torch::jit::Module m("TwoArguments");
  m.define(R"(
def forward(self, ids, scale):
    return ids.float().sum() * scale
)");
  return m;
}

TEST(StepInputs, SpecsBindToForwardsArgumentsByName) {
  const auto m = twoArguments();
  const auto inputs =
      makeInputs(m, {parseInputSpec("scale:float32[2,2]"), parseInputSpec("ids:int64[3]:0..5")}, 7);
  ASSERT_EQ(inputs.size(), 2u);
  EXPECT_EQ(inputs[0].toTensor().scalar_type(), at::kLong);  // ids, though given second
  EXPECT_EQ(inputs[0].toTensor().sizes(), at::IntArrayRef({3}));
  EXPECT_EQ(inputs[1].toTensor().scalar_type(), at::kFloat);
  EXPECT_EQ(inputs[1].toTensor().sizes(), at::IntArrayRef({2, 2}));
}

TEST(StepInputs, ANameForwardDoesNotTakeIsRefused) {
  const auto m = twoArguments();
  try {
    makeInputs(m, {parseInputSpec("img:float32[2]"), parseInputSpec("ids:int64[3]")}, 0);
    FAIL() << "an unknown input name was accepted";
  } catch (const SettingError& e) {
    EXPECT_EQ(e.setting(), "inputs");
    EXPECT_NE(e.problem().find("has no argument 'img'"), std::string::npos) << e.problem();
    EXPECT_NE(e.problem().find("forward(Tensor ids, Tensor scale)"), std::string::npos) << e.problem();
  }
}

}  // namespace
}  // namespace lowmem
