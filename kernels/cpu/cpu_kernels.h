#pragma once
// The CPU kernels of the four ops, compiled once per CPU capability and picked at run time like ATen's own
// (DEFAULT everywhere, AVX2 where the CPU and ATen use it). Inputs are contiguous and validated by the
// caller.

#include <ATen/ATen.h>

#include "kernels/activation_table.h"

namespace lowmem::kernels::cpu {

struct CpuKernels {
  const char* capability;
  // y = h(x) exactly; packed (optional, may be undefined) receives the k-bit codes.
  void (*activationForward)(const at::Tensor& x, const at::Tensor& y, const at::Tensor& packed,
                            const ActivationTable& table, ActivationFn fn);
  // gradIn = grad * level[code], codes read from packed.
  void (*activationBackward)(const at::Tensor& grad, const at::Tensor& packed, const at::Tensor& gradIn,
                             const ActivationTable& table);
  // One uint8 code per element (for tests and tools).
  void (*activationCodes)(const at::Tensor& x, const at::Tensor& codes, const ActivationTable& table);
  // Per row of `cols`: y = (x - mean) * rstd (LayerNorm) or x * rstd (RMSNorm); rstd is fp32 (fp64 for fp64).
  void (*normForward)(const at::Tensor& x, int64_t cols, double eps, bool rms, const at::Tensor& y,
                      const at::Tensor& rstd);
  // dx = rstd * (g - mean(g) - y * mean(g * y)); RMSNorm drops the mean(g) term.
  void (*normBackward)(const at::Tensor& grad, const at::Tensor& y, const at::Tensor& rstd, int64_t cols,
                       bool rms, const at::Tensor& dx);
};

const CpuKernels& cpuKernels();

namespace DEFAULT {
const CpuKernels& kernels();
}
namespace AVX2 {
const CpuKernels& kernels();
}

}  // namespace lowmem::kernels::cpu
