// MS-LN and MS-RMSNorm on CUDA: one block per row, fp32 statistics. Forward caches the row in shared memory
// (as fp32) when it fits, so x is read from global memory once; backward reads g and y twice (the second
// time from L2). Rows whose length is a multiple of 8 and whose start is 16-byte aligned use vector accesses.
// The CPU kernels (kernels/cpu/norm_kernels.cpp) are the reference the tests compare against.

#include <cuda_runtime.h>

#include "kernels/cuda/launchers.h"
#include "kernels/cuda/vec8.cuh"

namespace lowmem::kernels::cuda {
namespace {

constexpr int kMaxCachedCols = 12288;  // 48 KiB of fp32: the default dynamic shared memory limit

__device__ __forceinline__ float2 warpSum(float2 v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    v.x += __shfl_xor_sync(0xffffffffu, v.x, offset);
    v.y += __shfl_xor_sync(0xffffffffu, v.y, offset);
  }
  return v;
}

// Sum over the block; every thread gets the result.
__device__ float2 blockSum(float2 v) {
  __shared__ float2 partial[32];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  v = warpSum(v);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  float2 total = lane < warps ? partial[lane] : make_float2(0.f, 0.f);
  total = warpSum(total);
  __syncthreads();  // partial[] is reused by the next call
  return total;
}

template <typename T>
__device__ __forceinline__ bool vectorRow(const T* row, int64_t cols) {
  return cols % 8 == 0 && (reinterpret_cast<uintptr_t>(row) & 15u) == 0;
}

template <typename T>
__global__ void forwardKernel(const T* __restrict__ x, T* __restrict__ y, float* __restrict__ rstd,
                              int64_t cols, float eps, bool rms, bool cache) {
  extern __shared__ float rowCache[];
  const int64_t row = blockIdx.x;
  const T* xr = x + row * cols;
  T* yr = y + row * cols;
  const bool vec = vectorRow(xr, cols) && vectorRow(yr, cols);
  const float invCols = 1.f / static_cast<float>(cols);

  float2 acc = make_float2(0.f, 0.f);  // (sum x, sum x^2)
  if (vec) {
    for (int64_t c = threadIdx.x * 8; c < cols; c += blockDim.x * 8) {
      float v[8];
      load8(xr + c, v);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        acc.x += v[j];
        acc.y += v[j] * v[j];
        if (cache) rowCache[c + j] = v[j];
      }
    }
  } else {
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float v = toFloat(xr[c]);
      acc.x += v;
      acc.y += v * v;
      if (cache) rowCache[c] = v;
    }
  }
  const float2 sums = blockSum(acc);
  float mean = 0.f;
  float var = sums.y * invCols;
  if (!rms) {
    // Second pass over the (cached) row: mean((x - mean)^2) avoids the cancellation of E[x^2] - E[x]^2.
    mean = sums.x * invCols;
    float2 sq = make_float2(0.f, 0.f);
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float d = (cache ? rowCache[c] : toFloat(xr[c])) - mean;
      sq.x += d * d;
    }
    var = blockSum(sq).x * invCols;
  }
  const float r = rsqrtf(var + eps);
  if (threadIdx.x == 0) rstd[row] = r;
  if (vec) {
    for (int64_t c = threadIdx.x * 8; c < cols; c += blockDim.x * 8) {
      float v[8];
      if (cache) {
#pragma unroll
        for (int j = 0; j < 8; ++j)
          v[j] = rowCache[c + j];
      } else {
        load8(xr + c, v);
      }
#pragma unroll
      for (int j = 0; j < 8; ++j)
        v[j] = (v[j] - mean) * r;
      store8(yr + c, v);
    }
  } else {
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      yr[c] = fromFloat<T>(((cache ? rowCache[c] : toFloat(xr[c])) - mean) * r);
    }
  }
}

template <typename T>
__global__ void backwardKernel(const T* __restrict__ g, const T* __restrict__ y,
                               const float* __restrict__ rstd, T* __restrict__ dx, int64_t cols, bool rms) {
  const int64_t row = blockIdx.x;
  const T* gr = g + row * cols;
  const T* yr = y + row * cols;
  T* dr = dx + row * cols;
  const bool vec = vectorRow(gr, cols) && vectorRow(yr, cols) && vectorRow(dr, cols);
  float2 acc = make_float2(0.f, 0.f);  // (sum g, sum g*y)
  if (vec) {
    for (int64_t c = threadIdx.x * 8; c < cols; c += blockDim.x * 8) {
      float gv[8], yv[8];
      load8(gr + c, gv);
      load8(yr + c, yv);
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        acc.x += gv[j];
        acc.y += gv[j] * yv[j];
      }
    }
  } else {
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float gv = toFloat(gr[c]);
      acc.x += gv;
      acc.y += gv * toFloat(yr[c]);
    }
  }
  const float2 sums = blockSum(acc);
  const float invCols = 1.f / static_cast<float>(cols);
  const float meanG = rms ? 0.f : sums.x * invCols;
  const float meanGy = sums.y * invCols;
  const float r = rstd[row];
  if (vec) {
    for (int64_t c = threadIdx.x * 8; c < cols; c += blockDim.x * 8) {
      float gv[8], yv[8], out[8];
      load8(gr + c, gv);
      load8(yr + c, yv);
#pragma unroll
      for (int j = 0; j < 8; ++j)
        out[j] = r * (gv[j] - meanG - yv[j] * meanGy);
      store8(dr + c, out);
    }
  } else {
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      dr[c] = fromFloat<T>(r * (toFloat(gr[c]) - meanG - toFloat(yr[c]) * meanGy));
    }
  }
}

unsigned threadsFor(int64_t cols) {
  // Enough threads that each handles a few 8-element chunks; at least a warp, at most 512.
  int64_t t = (cols / 8 + 31) / 32 * 32;
  return static_cast<unsigned>(t < 32 ? 32 : (t > 512 ? 512 : t));
}

template <typename T>
cudaError_t forwardTyped(const void* x, void* y, float* rstd, int64_t rows, int64_t cols, float eps, bool rms,
                         cudaStream_t s) {
  const bool cache = cols <= kMaxCachedCols;
  const size_t smem = cache ? static_cast<size_t>(cols) * sizeof(float) : 0;
  forwardKernel<T><<<static_cast<unsigned>(rows), threadsFor(cols), smem, s>>>(
      static_cast<const T*>(x), static_cast<T*>(y), rstd, cols, eps, rms, cache);
  return cudaGetLastError();
}

template <typename T>
cudaError_t backwardTyped(const void* g, const void* y, const float* rstd, void* dx, int64_t rows,
                          int64_t cols, bool rms, cudaStream_t s) {
  backwardKernel<T><<<static_cast<unsigned>(rows), threadsFor(cols), 0, s>>>(
      static_cast<const T*>(g), static_cast<const T*>(y), rstd, static_cast<T*>(dx), cols, rms);
  return cudaGetLastError();
}

}  // namespace

cudaError_t normForward(DType dtype, const void* x, void* y, float* rstd, int64_t rows, int64_t cols,
                        float eps, bool rms, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  if (rows > 2147483647) return cudaErrorInvalidConfiguration;
  switch (dtype) {
    case DType::kFloat32:
      return forwardTyped<float>(x, y, rstd, rows, cols, eps, rms, stream);
    case DType::kFloat16:
      return forwardTyped<__half>(x, y, rstd, rows, cols, eps, rms, stream);
    case DType::kBFloat16:
      return forwardTyped<__nv_bfloat16>(x, y, rstd, rows, cols, eps, rms, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t normBackward(DType dtype, const void* grad, const void* y, const float* rstd, void* dx,
                         int64_t rows, int64_t cols, bool rms, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return cudaSuccess;
  if (rows > 2147483647) return cudaErrorInvalidConfiguration;
  switch (dtype) {
    case DType::kFloat32:
      return backwardTyped<float>(grad, y, rstd, dx, rows, cols, rms, stream);
    case DType::kFloat16:
      return backwardTyped<__half>(grad, y, rstd, dx, rows, cols, rms, stream);
    case DType::kBFloat16:
      return backwardTyped<__nv_bfloat16>(grad, y, rstd, dx, rows, cols, rms, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace lowmem::kernels::cuda
