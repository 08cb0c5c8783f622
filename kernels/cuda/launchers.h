#pragma once
// Host entry points of the CUDA kernels. Plain pointers and CUDA types only: this object library builds with
// nvcc alone (no CUDA LibTorch needed), so CI compiles every kernel even where nothing can run it.

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/activation_table.h"

namespace lowmem::kernels::cuda {

enum class DType : int { kFloat32 = 0, kFloat16 = 1, kBFloat16 = 2 };

// y = h(x); packed (nullable) receives packedBytes(n, table.bits) bytes of codes.
cudaError_t activationForward(DType dtype, const void* x, void* y, uint8_t* packed, int64_t n,
                              const ActivationTable& table, ActivationFn fn, cudaStream_t stream);
// gradIn = grad * level[code].
cudaError_t activationBackward(DType dtype, const void* grad, const uint8_t* packed, void* gradIn, int64_t n,
                               const ActivationTable& table, cudaStream_t stream);
// One uint8 code per element.
cudaError_t activationCodes(DType dtype, const void* x, uint8_t* codes, int64_t n,
                            const ActivationTable& table, cudaStream_t stream);
// Per row: y = (x - mean) * rstd, or x * rstd for RMSNorm; rstd in fp32.
cudaError_t normForward(DType dtype, const void* x, void* y, float* rstd, int64_t rows, int64_t cols,
                        float eps, bool rms, cudaStream_t stream);
// dx = rstd * (g - mean(g) - y * mean(g*y)); RMSNorm drops mean(g).
cudaError_t normBackward(DType dtype, const void* grad, const void* y, const float* rstd, void* dx,
                         int64_t rows, int64_t cols, bool rms, cudaStream_t stream);

// lowmem::attention: q [n, sq, d], k [n, sk, d], v [n, sk, dv], o [n, sq, dv], contiguous; lse [n, sq] fp32.
// The additive fp32 mask of slice s, row i, key j is data[offsets[s] + i * strideQ + j * strideK] (broadcast
// by strides; offsets in device memory), or none when data is null. Head dimensions up to kMaxAttentionDim.
constexpr int64_t kMaxAttentionDim = 256;
struct AttentionMaskView {
  const float* data = nullptr;
  const int64_t* offsets = nullptr;
  int64_t strideQ = 0, strideK = 0;
};
cudaError_t attentionForward(DType dtype, const void* q, const void* k, const void* v,
                             const AttentionMaskView& mask, float scale, bool causal, int64_t n, int64_t sq,
                             int64_t sk, int64_t d, int64_t dv, void* o, float* lse, cudaStream_t stream);
// dq in the inputs' dtype; dk, dv accumulated into zeroed fp32 buffers [n, sk, d] and [n, sk, dv].
cudaError_t attentionBackward(DType dtype, const void* grad, const void* q, const void* k, const void* v,
                              const void* o, const float* lse, const AttentionMaskView& mask, float scale,
                              bool causal, int64_t n, int64_t sq, int64_t sk, int64_t d, int64_t dv, void* dq,
                              float* dk, float* dv32, cudaStream_t stream);

}  // namespace lowmem::kernels::cuda
