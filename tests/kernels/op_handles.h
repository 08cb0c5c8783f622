#pragma once
// Typed handles to the lowmem ops through the dispatcher, the way TorchScript and Python reach them.

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include "kernels/ops_library.h"

namespace lowmem::testing {

template <typename Sig>
c10::TypedOperatorHandle<Sig> op(const char* name) {
  kernels::ensureOpsRegistered();
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Sig>();
}

inline at::Tensor regelu2(const at::Tensor& x) {
  return op<at::Tensor(const at::Tensor&)>("lowmem::regelu2").call(x);
}
inline at::Tensor resilu2(const at::Tensor& x) {
  return op<at::Tensor(const at::Tensor&)>("lowmem::resilu2").call(x);
}
inline at::Tensor regelu(const at::Tensor& x, int64_t bits) {
  return op<at::Tensor(const at::Tensor&, int64_t)>("lowmem::regelu").call(x, bits);
}
inline at::Tensor resilu(const at::Tensor& x, int64_t bits) {
  return op<at::Tensor(const at::Tensor&, int64_t)>("lowmem::resilu").call(x, bits);
}
inline std::tuple<at::Tensor, at::Tensor> activationForward(const at::Tensor& x, const char* fn,
                                                            int64_t bits) {
  return op<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, c10::string_view, int64_t, bool)>(
             "lowmem::activation_forward")
      .call(x, fn, bits, true);
}
inline at::Tensor activationCodes(const at::Tensor& x, const char* fn, int64_t bits) {
  return op<at::Tensor(const at::Tensor&, c10::string_view, int64_t)>("lowmem::activation_codes")
      .call(x, fn, bits);
}
inline at::Tensor msLayerNorm(const at::Tensor& x, at::IntArrayRef shape, double eps) {
  return op<at::Tensor(const at::Tensor&, at::IntArrayRef, double)>("lowmem::ms_layer_norm")
      .call(x, shape, eps);
}
inline at::Tensor msRmsNorm(const at::Tensor& x, at::IntArrayRef shape, double eps) {
  return op<at::Tensor(const at::Tensor&, at::IntArrayRef, double)>("lowmem::ms_rms_norm")
      .call(x, shape, eps);
}
inline at::Tensor pack(const at::Tensor& codes, int64_t bits) {
  return op<at::Tensor(const at::Tensor&, int64_t)>("lowmem::pack").call(codes, bits);
}
inline at::Tensor unpack(const at::Tensor& packed, int64_t n, int64_t bits) {
  return op<at::Tensor(const at::Tensor&, int64_t, int64_t)>("lowmem::unpack").call(packed, n, bits);
}
inline at::Tensor pack2(const at::Tensor& codes) {
  return op<at::Tensor(const at::Tensor&)>("lowmem::pack2").call(codes);
}
inline at::Tensor unpack2(const at::Tensor& packed, int64_t n) {
  return op<at::Tensor(const at::Tensor&, int64_t)>("lowmem::unpack2").call(packed, n);
}

}  // namespace lowmem::testing
