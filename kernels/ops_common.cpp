#include "kernels/ops_common.h"

#include <sstream>

namespace lowmem::kernels {

ActivationFn parseActivation(c10::string_view name, const char* op) {
  if (name == "gelu") return ActivationFn::kGelu;
  if (name == "silu") return ActivationFn::kSilu;
  TORCH_CHECK(false, op, ": unknown activation '", std::string(name), "' (expected gelu or silu)");
}

void checkFloating(const at::Tensor& t, const char* op) {
  TORCH_CHECK(t.defined(), op, ": undefined tensor");
  const auto s = t.scalar_type();
  TORCH_CHECK(s == at::kFloat || s == at::kBFloat16 || s == at::kHalf || s == at::kDouble, op,
              ": expected a floating-point tensor (float32, bfloat16, float16 or float64), got ", s);
}

int64_t normalizedCols(const at::Tensor& x, at::IntArrayRef shape, const char* op) {
  TORCH_CHECK(!shape.empty(), op, ": normalized_shape must not be empty");
  TORCH_CHECK(static_cast<int64_t>(shape.size()) <= x.dim(), op, ": normalized_shape ", shape,
              " has more dimensions than the input of shape ", x.sizes());
  const auto trailing = x.sizes().slice(x.dim() - shape.size());
  TORCH_CHECK(trailing.equals(shape), op, ": normalized_shape ", shape,
              " does not match the input's trailing ", "dimensions ", trailing, " (input shape ", x.sizes(),
              ")");
  int64_t cols = 1;
  for (auto d : shape)
    cols *= d;
  return cols;
}

}  // namespace lowmem::kernels
