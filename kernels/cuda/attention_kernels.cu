// lowmem::attention on CUDA: the same algorithm as the CPU kernels (kernels/cpu/attention_kernels.cpp),
// written for correctness first: one thread per query row. Forward runs the online softmax over the keys and
// keeps the row's log-sum-exp; backward recomputes each probability from it, accumulates dq in registers and
// dk, dv with fp32 atomics. Not tuned (no tiles in shared memory); scripts/gpu-check compares it with the CPU
// op and with the unfused PyTorch chain, and times it, when a GPU is lent.

#include <cuda_runtime.h>

#include <cmath>

#include "kernels/cuda/launchers.h"
#include "kernels/cuda/vec8.cuh"

namespace lowmem::kernels::cuda {
namespace {

constexpr int kThreads = 128;

struct Shape {
  int64_t n, sq, sk, d, dv;
};

// The additive mask of slice `n`, row `i`, key `j`; 0 without one. -inf removes the key, as does causality.
__device__ __forceinline__ float maskAt(const AttentionMaskView& m, int64_t n, int64_t i, int64_t j,
                                        bool causal) {
  if (causal && j > i) return -INFINITY;
  return m.data ? m.data[m.offsets[n] + i * m.strideQ + j * m.strideK] : 0.f;
}

template <typename T>
__device__ float dot(const T* a, const T* b, int64_t len) {
  float s = 0.f;
  for (int64_t c = 0; c < len; ++c)
    s += toFloat<T>(a[c]) * toFloat<T>(b[c]);
  return s;
}

template <typename T>
__global__ void forwardKernel(const T* q, const T* k, const T* v, AttentionMaskView mask, float scale,
                              bool causal, Shape z, T* o, float* lse) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (row >= z.n * z.sq) return;
  const int64_t n = row / z.sq, i = row % z.sq;
  const T* qi = q + row * z.d;
  float acc[kMaxAttentionDim];
  for (int64_t c = 0; c < z.dv; ++c)
    acc[c] = 0.f;
  float m = -INFINITY, l = 0.f;
  for (int64_t j = 0; j < z.sk; ++j) {
    const float bias = maskAt(mask, n, i, j, causal);
    if (bias == -INFINITY) continue;
    const float s = dot(qi, k + (n * z.sk + j) * z.d, z.d) * scale + bias;
    const float mNew = fmaxf(m, s);
    const float corr = m == -INFINITY ? 0.f : __expf(m - mNew);
    const float p = __expf(s - mNew);
    const T* vj = v + (n * z.sk + j) * z.dv;
    for (int64_t c = 0; c < z.dv; ++c)
      acc[c] = acc[c] * corr + p * toFloat<T>(vj[c]);
    l = l * corr + p;
    m = mNew;
  }
  // A row with every key masked: output 0 and lse -inf (no gradient), as the CPU kernel.
  const float inv = l > 0.f ? 1.f / l : 0.f;
  for (int64_t c = 0; c < z.dv; ++c)
    o[row * z.dv + c] = fromFloat<T>(acc[c] * inv);
  lse[row] = l > 0.f ? m + __logf(l) : -INFINITY;
}

// dq_i = Σ_j dS_ij k_j, dk_j += dS_ij q_i, dv_j += P_ij dO_i, with dS_ij = P_ij (dO_i · v_j − dO_i · O_i)
// scale.
template <typename T>
__global__ void backwardKernel(const T* grad, const T* q, const T* k, const T* v, const T* o,
                               const float* lse, AttentionMaskView mask, float scale, bool causal, Shape z,
                               T* dq, float* dk, float* dv) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (row >= z.n * z.sq) return;
  const int64_t n = row / z.sq, i = row % z.sq;
  const T* qi = q + row * z.d;
  const T* gi = grad + row * z.dv;
  float acc[kMaxAttentionDim];
  for (int64_t c = 0; c < z.d; ++c)
    acc[c] = 0.f;
  const float li = lse[row];
  if (li != -INFINITY) {
    const float di = dot(gi, o + row * z.dv, z.dv);
    for (int64_t j = 0; j < z.sk; ++j) {
      const float bias = maskAt(mask, n, i, j, causal);
      if (bias == -INFINITY) continue;
      const T* kj = k + (n * z.sk + j) * z.d;
      const T* vj = v + (n * z.sk + j) * z.dv;
      const float p = __expf(dot(qi, kj, z.d) * scale + bias - li);
      const float ds = p * (dot(gi, vj, z.dv) - di) * scale;
      float* dkj = dk + (n * z.sk + j) * z.d;
      float* dvj = dv + (n * z.sk + j) * z.dv;
      for (int64_t c = 0; c < z.d; ++c) {
        acc[c] += ds * toFloat<T>(kj[c]);
        atomicAdd(dkj + c, ds * toFloat<T>(qi[c]));
      }
      for (int64_t c = 0; c < z.dv; ++c)
        atomicAdd(dvj + c, p * toFloat<T>(gi[c]));
    }
  }
  for (int64_t c = 0; c < z.d; ++c)
    dq[row * z.d + c] = fromFloat<T>(acc[c]);
}

unsigned blocksFor(const Shape& z) {
  return static_cast<unsigned>((z.n * z.sq + kThreads - 1) / kThreads);
}

template <typename T>
cudaError_t forwardTyped(const void* q, const void* k, const void* v, const AttentionMaskView& mask,
                         float scale, bool causal, const Shape& z, void* o, float* lse, cudaStream_t stream) {
  if (z.n * z.sq == 0) return cudaSuccess;
  forwardKernel<T><<<blocksFor(z), kThreads, 0, stream>>>(static_cast<const T*>(q), static_cast<const T*>(k),
                                                          static_cast<const T*>(v), mask, scale, causal, z,
                                                          static_cast<T*>(o), lse);
  return cudaGetLastError();
}

template <typename T>
cudaError_t backwardTyped(const void* grad, const void* q, const void* k, const void* v, const void* o,
                          const float* lse, const AttentionMaskView& mask, float scale, bool causal,
                          const Shape& z, void* dq, float* dk, float* dv, cudaStream_t stream) {
  if (z.n * z.sq == 0) return cudaSuccess;
  backwardKernel<T><<<blocksFor(z), kThreads, 0, stream>>>(
      static_cast<const T*>(grad), static_cast<const T*>(q), static_cast<const T*>(k),
      static_cast<const T*>(v), static_cast<const T*>(o), lse, mask, scale, causal, z, static_cast<T*>(dq),
      dk, dv);
  return cudaGetLastError();
}

}  // namespace

cudaError_t attentionForward(DType dtype, const void* q, const void* k, const void* v,
                             const AttentionMaskView& mask, float scale, bool causal, int64_t n, int64_t sq,
                             int64_t sk, int64_t d, int64_t dv, void* o, float* lse, cudaStream_t stream) {
  if (d > kMaxAttentionDim || dv > kMaxAttentionDim) return cudaErrorInvalidValue;
  const Shape z{n, sq, sk, d, dv};
  switch (dtype) {
    case DType::kFloat32:
      return forwardTyped<float>(q, k, v, mask, scale, causal, z, o, lse, stream);
    case DType::kFloat16:
      return forwardTyped<__half>(q, k, v, mask, scale, causal, z, o, lse, stream);
    case DType::kBFloat16:
      return forwardTyped<__nv_bfloat16>(q, k, v, mask, scale, causal, z, o, lse, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t attentionBackward(DType dtype, const void* grad, const void* q, const void* k, const void* v,
                              const void* o, const float* lse, const AttentionMaskView& mask, float scale,
                              bool causal, int64_t n, int64_t sq, int64_t sk, int64_t d, int64_t dv, void* dq,
                              float* dk, float* dv32, cudaStream_t stream) {
  if (d > kMaxAttentionDim || dv > kMaxAttentionDim) return cudaErrorInvalidValue;
  const Shape z{n, sq, sk, d, dv};
  switch (dtype) {
    case DType::kFloat32:
      return backwardTyped<float>(grad, q, k, v, o, lse, mask, scale, causal, z, dq, dk, dv32, stream);
    case DType::kFloat16:
      return backwardTyped<__half>(grad, q, k, v, o, lse, mask, scale, causal, z, dq, dk, dv32, stream);
    case DType::kBFloat16:
      return backwardTyped<__nv_bfloat16>(grad, q, k, v, o, lse, mask, scale, causal, z, dq, dk, dv32,
                                          stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace lowmem::kernels::cuda
