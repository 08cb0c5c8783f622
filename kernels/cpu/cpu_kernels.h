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

// Dropout on the probabilities, applied where they are formed and never stored: each kept probability is
// scaled by 1/(1 - p). Element (slice n, query i, key j) is kept when the 32-bit Philox4x32-10 draw number j
// of stream (seed, n · sq + i) is below (1 - p) · 2³², so forward and backward, in any tiling and thread
// count, see the same mask; or, when `keep` is set, by keep[(n · sq + i) · sk + j] != 0 (aten::dropout's own
// samples, materialised: what the verifier compares against). p = 0: none.
struct AttentionDropout {
  double p = 0;
  uint64_t seed = 0;
  const uint8_t* keep = nullptr;
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
                           const AttentionMask& mask, double scale, bool causal,
                           const AttentionDropout& dropout, const at::Tensor& o, const at::Tensor& lse);
  // dq, dk, dv from the output's gradient, recomputing the probabilities from q, k and lse; dmask (when
  // defined: [n, sq, sk] fp32, contiguous, zeroed) receives the scores' gradient, which is the additive
  // mask's.
  void (*attentionBackward)(const at::Tensor& grad, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const at::Tensor& o, const at::Tensor& lse,
                            const AttentionMask& mask, double scale, bool causal,
                            const AttentionDropout& dropout, const at::Tensor& dq, const at::Tensor& dk,
                            const at::Tensor& dv, const at::Tensor& dmask);
};

const CpuKernels& cpuKernels();

namespace DEFAULT {
const CpuKernels& kernels();
}
namespace AVX2 {
const CpuKernels& kernels();
}

}  // namespace lowmem::kernels::cpu
