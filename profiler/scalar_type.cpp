#include "profiler/scalar_type.h"

#include <utility>

namespace lowmem {
namespace {

constexpr std::pair<Dtype, c10::ScalarType> kTypes[] = {
    {Dtype::kFloat32, c10::ScalarType::Float}, {Dtype::kBFloat16, c10::ScalarType::BFloat16},
    {Dtype::kFloat16, c10::ScalarType::Half},  {Dtype::kFloat64, c10::ScalarType::Double},
    {Dtype::kInt64, c10::ScalarType::Long},    {Dtype::kInt32, c10::ScalarType::Int},
    {Dtype::kBool, c10::ScalarType::Bool}};

}  // namespace

c10::ScalarType scalarTypeOf(Dtype dtype) {
  for (const auto& [d, t] : kTypes) {
    if (d == dtype) return t;
  }
  return c10::ScalarType::Float;  // unreachable: kTypes covers every Dtype (tests/profiler)
}

std::optional<Dtype> dtypeOf(c10::ScalarType type) {
  for (const auto& [d, t] : kTypes) {
    if (t == type) return d;
  }
  return std::nullopt;
}

}  // namespace lowmem
