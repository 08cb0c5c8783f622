#pragma once
// Checks and helpers shared by the op registrations.

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <string>

#include "kernels/activation_table.h"

namespace lowmem::kernels {

// "gelu" or "silu"; anything else is a TORCH_CHECK error naming `op`.
ActivationFn parseActivation(c10::string_view name, const char* op);

// Floating dtype (float32, bfloat16, float16, float64) or a clear error naming `op`.
void checkFloating(const at::Tensor& t, const char* op);

// Product of normalized_shape, after checking it matches x's trailing dimensions.
int64_t normalizedCols(const at::Tensor& x, at::IntArrayRef normalizedShape, const char* op);

// A typed handle to one of our ops through the dispatcher, so CPU and CUDA tensors reach their kernels.
template <typename Signature>
c10::TypedOperatorHandle<Signature> lowmemOp(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

}  // namespace lowmem::kernels
