// The MS-norms under autocast. PyTorch runs layer_norm in float32 under autocast, and each 16-bit consumer
// (linear, matmul) then casts the norm's output and saves its own copy: under mixed precision nothing is
// shared. An MS-norm instead takes its input in the autocast dtype and writes its output there (its kernels
// accumulate in float32 all the same), so the consumers' casts return that very tensor and the output the
// norm saves is the one they save: the sharing the paper's MS-LN and MS-RMSNorm rest on, also with AMP.

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include "kernels/autocast_compat.h"

namespace lowmem::kernels {
namespace {

using NormSignature = at::Tensor(const at::Tensor&, at::IntArrayRef, double);

// Only float32 inputs are lowered, as autocast lowers them; float64 and 16-bit inputs pass unchanged.
at::Tensor lowered(const at::Tensor& x, c10::DeviceType device) {
  return x.scalar_type() == at::kFloat ? x.to(autocast::dtype(device)) : x;
}

template <c10::DeviceType Device, bool Rms>
at::Tensor msNormAutocast(const at::Tensor& x, at::IntArrayRef shape, double eps) {
  c10::impl::ExcludeDispatchKeyGuard noAutocast(c10::autocast_dispatch_keyset);
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow(Rms ? "lowmem::ms_rms_norm" : "lowmem::ms_layer_norm", "")
                             .typed<NormSignature>();
  return op.call(lowered(x, Device), shape, eps);
}

}  // namespace

TORCH_LIBRARY_IMPL(lowmem, AutocastCPU, m) {
  m.impl("ms_layer_norm", msNormAutocast<c10::DeviceType::CPU, false>);
  m.impl("ms_rms_norm", msNormAutocast<c10::DeviceType::CPU, true>);
}

TORCH_LIBRARY_IMPL(lowmem, AutocastCUDA, m) {
  m.impl("ms_layer_norm", msNormAutocast<c10::DeviceType::CUDA, false>);
  m.impl("ms_rms_norm", msNormAutocast<c10::DeviceType::CUDA, true>);
}

}  // namespace lowmem::kernels
