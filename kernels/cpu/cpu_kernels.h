#pragma once
// The CPU kernels of the four ops, compiled once per CPU capability and picked at run time like ATen's own
// (DEFAULT everywhere, AVX2 where the CPU and ATen use it). Inputs are contiguous and validated by the
// caller.

#include <ATen/ATen.h>

#include "kernels/activation_table.h"

namespace lowmem::kernels::cpu {

// An additive mask read in place, broadcast without copies: element (slice n, query i, key j) is
// data[offsets[n] + i * strideQ + j * strideK]; data null for none.
struct AttentionMask {
  const float* data = nullptr;
  const int64_t* offsets = nullptr;
  int64_t strideQ = 0;
  int64_t strideK = 0;
};

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
  // q [n, sq, d], k [n, sk, d], v [n, sk, dv] contiguous: o [n, sq, dv] and lse [n, sq] (fp32; fp64 for
  // fp64).
  void (*attentionForward)(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const AttentionMask& mask, double scale, bool causal, const at::Tensor& o,
                           const at::Tensor& lse);
  // dq, dk, dv from the output's gradient, recomputing the probabilities from q, k and lse.
  void (*attentionBackward)(const at::Tensor& grad, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const at::Tensor& o, const at::Tensor& lse,
                            const AttentionMask& mask, double scale, bool causal, const at::Tensor& dq,
                            const at::Tensor& dk, const at::Tensor& dv);
};

const CpuKernels& cpuKernels();

namespace DEFAULT {
const CpuKernels& kernels();
}
namespace AVX2 {
const CpuKernels& kernels();
}

}  // namespace lowmem::kernels::cpu
