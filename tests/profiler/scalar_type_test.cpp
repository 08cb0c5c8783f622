// Every Dtype a spec can name is one LibTorch scalar type, and back: the map the inputs, the model cast and
// the bundled models' input hints share.

#include <gtest/gtest.h>

#include "profiler/scalar_type.h"

namespace lowmem {
namespace {

TEST(ScalarTypeMap, EveryDtypeIsTheTypeOfItsNameAndMapsBack) {
  for (const auto& choice : choicesOf<Dtype>()) {
    const auto type = scalarTypeOf(choice.value);
    EXPECT_EQ(dtypeOf(type), choice.value) << choice.name;
    // ATen's own element size and floating-ness agree with the name.
    EXPECT_EQ(c10::isFloatingType(type), isFloating(choice.value)) << choice.name;
  }
  EXPECT_EQ(scalarTypeOf(Dtype::kBFloat16), c10::ScalarType::BFloat16);
  EXPECT_EQ(scalarTypeOf(Dtype::kInt32), c10::ScalarType::Int);
  EXPECT_FALSE(dtypeOf(c10::ScalarType::ComplexFloat));
}

}  // namespace
}  // namespace lowmem
