// The lowmem op namespace. Kernels are registered per dispatch key in activation_ops.cpp, norm_ops.cpp,
// pack_ops.cpp and (with a CUDA LibTorch) cuda_ops.cpp.

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#include "kernels/attention_dropout.h"
#include "kernels/ops_library.h"

TORCH_LIBRARY(lowmem, m) {
  m.def("regelu2(Tensor x) -> Tensor");
  m.def("resilu2(Tensor x) -> Tensor");
  m.def("regelu(Tensor x, int bits=2) -> Tensor");
  m.def("resilu(Tensor x, int bits=2) -> Tensor");
  m.def("activation_forward(Tensor x, str fn, int bits, bool save_codes) -> (Tensor, Tensor)");
  m.def("activation_backward(Tensor grad, Tensor packed, str fn, int bits) -> Tensor");
  m.def("activation_codes(Tensor x, str fn, int bits) -> Tensor");
  m.def("ms_layer_norm(Tensor x, int[] normalized_shape, float eps=1e-05) -> Tensor");
  m.def("ms_rms_norm(Tensor x, int[] normalized_shape, float eps=1e-06) -> Tensor");
  m.def("norm_forward(Tensor x, int[] normalized_shape, float eps, bool rms) -> (Tensor, Tensor)");
  m.def("norm_backward(Tensor grad, Tensor y, Tensor rstd, int[] normalized_shape, bool rms) -> Tensor");
  m.def(
      "attention(Tensor q, Tensor k, Tensor v, Tensor? attn_mask=None, float? scale=None, bool "
      "is_causal=False, float dropout_p=0.0) -> Tensor");
  m.def(
      "attention_forward(Tensor q, Tensor k, Tensor v, Tensor? attn_mask, float scale, bool is_causal, "
      "float dropout_p, int seed, Tensor? dropout_keep) -> (Tensor, Tensor)");
  m.def(
      "attention_backward(Tensor grad, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse, Tensor? "
      "attn_mask, float scale, bool is_causal, float dropout_p, int seed, Tensor? dropout_keep, bool "
      "mask_grad) "
      "-> (Tensor, Tensor, Tensor, Tensor)");
  // No tensor to dispatch on: one kernel for every device (kernels/attention_dropout.h).
  m.def("attention_dropout_as_aten(bool enabled) -> bool", &lowmem::kernels::setDropoutAsAten);
  m.def("pack(Tensor codes, int bits) -> Tensor");
  m.def("unpack(Tensor packed, int n, int bits) -> Tensor");
  m.def("pack2(Tensor codes) -> Tensor");
  m.def("unpack2(Tensor packed, int n) -> Tensor");
}

namespace lowmem::kernels {

void ensureOpsRegistered() {
  // Touching the dispatcher for one of our schemas proves the static registrars above have run.
  (void)c10::Dispatcher::singleton().findSchemaOrThrow("lowmem::regelu2", "");
}

}  // namespace lowmem::kernels
