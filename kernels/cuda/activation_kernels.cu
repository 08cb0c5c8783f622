// ReGELU-k / ReSiLU-k on CUDA. One thread owns 8 elements = `bits` bytes of codes, so no two threads share a
// byte and every access is a 16-byte vector (fp16/bf16) or two (fp32). Memory-bound: forward reads 2-4 bytes
// and writes 2-4 + bits/8 bytes per element; backward reads the gradient plus bits/8 bytes.
// The CPU kernels (kernels/cpu/activation_kernels.cpp) are the reference the tests compare against.

#include <cuda_runtime.h>

#include "kernels/cuda/launchers.h"
#include "kernels/cuda/vec8.cuh"

namespace lowmem::kernels::cuda {
namespace {

struct DeviceTable {
  int bits;
  int thresholds;
  float c[kMaxThresholds];
  float level[kMaxThresholds + 1];
};

DeviceTable deviceTable(const ActivationTable& t) {
  DeviceTable d{};
  d.bits = t.bits;
  d.thresholds = t.thresholds;
  for (int i = 0; i < kMaxThresholds; ++i)
    d.c[i] = t.c[i];
  for (int i = 0; i <= kMaxThresholds; ++i)
    d.level[i] = t.level[i];
  return d;
}

__device__ __forceinline__ float activate(float x, int fn) {
  // The erf form of GELU and x*sigmoid(x), as ATen's CUDA kernels compute them in fp32.
  return fn == 0 ? 0.5f * x * (1.f + erff(x * 0.70710678118654752440f)) : x / (1.f + expf(-x));
}

__device__ __forceinline__ uint32_t codeOf(float x, const DeviceTable& t) {
  uint32_t code = 0;
  for (int i = 0; i < t.thresholds; ++i)
    code += x > t.c[i];
  return code;
}

__device__ __forceinline__ void storeField(uint8_t* packed, int64_t block, uint32_t field, int bits) {
  uint8_t* p = packed + block * bits;
  if (bits == 2) {
    *reinterpret_cast<uint16_t*>(p) = static_cast<uint16_t>(field);
  } else if (bits == 4) {
    *reinterpret_cast<uint32_t*>(p) = field;
  } else {
    for (int b = 0; b < bits; ++b)
      p[b] = static_cast<uint8_t>(field >> (8 * b));
  }
}

__device__ __forceinline__ uint32_t loadField(const uint8_t* packed, int64_t block, int bits) {
  const uint8_t* p = packed + block * bits;
  if (bits == 2) return *reinterpret_cast<const uint16_t*>(p);
  if (bits == 4) return *reinterpret_cast<const uint32_t*>(p);
  uint32_t field = 0;
  for (int b = 0; b < bits; ++b)
    field |= static_cast<uint32_t>(p[b]) << (8 * b);
  return field;
}

// kVector: x and y are 16-byte aligned, so full blocks use vector accesses; the last partial block (and
// every block when unaligned) goes element by element.
template <typename T, bool kVector>
__global__ void forwardKernel(const T* __restrict__ x, T* __restrict__ y, uint8_t* __restrict__ packed,
                              int64_t n, DeviceTable t, int fn) {
  const int64_t blocks = (n + 7) / 8;
  for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; b < blocks;
       b += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t base = b * 8;
    const int lanes = n - base < 8 ? static_cast<int>(n - base) : 8;
    float v[8];
    if (kVector && lanes == 8) {
      load8(x + base, v);
    } else {
      for (int j = 0; j < 8; ++j)
        v[j] = j < lanes ? toFloat(x[base + j]) : 0.f;
    }
    float out[8];
    uint32_t field = 0;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      out[j] = activate(v[j], fn);
      field |= (j < lanes ? codeOf(v[j], t) : 0u) << (j * t.bits);
    }
    if (kVector && lanes == 8) {
      store8(y + base, out);
    } else {
      for (int j = 0; j < lanes; ++j)
        y[base + j] = fromFloat<T>(out[j]);
    }
    if (packed == nullptr) continue;
    if (lanes == 8) {
      storeField(packed, b, field, t.bits);
    } else {
      const int64_t first = b * t.bits;
      const int64_t end = (n * t.bits + 7) / 8;
      for (int64_t byte = first; byte < end; ++byte)
        packed[byte] = static_cast<uint8_t>(field >> (8 * (byte - first)));
    }
  }
}

template <typename T, bool kVector>
__global__ void backwardKernel(const T* __restrict__ grad, const uint8_t* __restrict__ packed,
                               T* __restrict__ gradIn, int64_t n, DeviceTable t) {
  const int64_t blocks = (n + 7) / 8;
  const uint32_t mask = (1u << t.bits) - 1u;
  for (int64_t b = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; b < blocks;
       b += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t base = b * 8;
    const int lanes = n - base < 8 ? static_cast<int>(n - base) : 8;
    uint32_t field;
    if (lanes == 8) {
      field = loadField(packed, b, t.bits);
    } else {
      field = 0;
      const int64_t first = b * t.bits;
      const int64_t end = (n * t.bits + 7) / 8;
      for (int64_t byte = first; byte < end; ++byte)
        field |= static_cast<uint32_t>(packed[byte]) << (8 * (byte - first));
    }
    float g[8];
    if (kVector && lanes == 8) {
      load8(grad + base, g);
    } else {
      for (int j = 0; j < 8; ++j)
        g[j] = j < lanes ? toFloat(grad[base + j]) : 0.f;
    }
    float out[8];
#pragma unroll
    for (int j = 0; j < 8; ++j)
      out[j] = g[j] * t.level[(field >> (j * t.bits)) & mask];
    if (kVector && lanes == 8) {
      store8(gradIn + base, out);
    } else {
      for (int j = 0; j < lanes; ++j)
        gradIn[base + j] = fromFloat<T>(out[j]);
    }
  }
}

template <typename T>
__global__ void codesKernel(const T* __restrict__ x, uint8_t* __restrict__ codes, int64_t n, DeviceTable t) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    codes[i] = static_cast<uint8_t>(codeOf(toFloat(x[i]), t));
  }
}

constexpr int kThreads = 256;

unsigned gridFor(int64_t work) {
  const int64_t blocks = (work + kThreads - 1) / kThreads;
  // Grid-stride loops cover the rest; 65535 * 256 threads saturate any current GPU.
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 65535 ? 65535 : blocks));
}

bool aligned16(const void* a, const void* b) {
  return ((reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b)) & 15u) == 0;
}

template <typename T>
cudaError_t forwardTyped(const void* x, void* y, uint8_t* packed, int64_t n, const DeviceTable& t, int fn,
                         cudaStream_t s) {
  const auto grid = gridFor((n + 7) / 8);
  if (aligned16(x, y)) {
    forwardKernel<T, true>
        <<<grid, kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y), packed, n, t, fn);
  } else {
    forwardKernel<T, false>
        <<<grid, kThreads, 0, s>>>(static_cast<const T*>(x), static_cast<T*>(y), packed, n, t, fn);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t backwardTyped(const void* g, const uint8_t* packed, void* gi, int64_t n, const DeviceTable& t,
                          cudaStream_t s) {
  const auto grid = gridFor((n + 7) / 8);
  if (aligned16(g, gi)) {
    backwardKernel<T, true>
        <<<grid, kThreads, 0, s>>>(static_cast<const T*>(g), packed, static_cast<T*>(gi), n, t);
  } else {
    backwardKernel<T, false>
        <<<grid, kThreads, 0, s>>>(static_cast<const T*>(g), packed, static_cast<T*>(gi), n, t);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t activationForward(DType dtype, const void* x, void* y, uint8_t* packed, int64_t n,
                              const ActivationTable& table, ActivationFn fn, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const auto t = deviceTable(table);
  const int f = static_cast<int>(fn);
  switch (dtype) {
    case DType::kFloat32:
      return forwardTyped<float>(x, y, packed, n, t, f, stream);
    case DType::kFloat16:
      return forwardTyped<__half>(x, y, packed, n, t, f, stream);
    case DType::kBFloat16:
      return forwardTyped<__nv_bfloat16>(x, y, packed, n, t, f, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t activationBackward(DType dtype, const void* grad, const uint8_t* packed, void* gradIn, int64_t n,
                               const ActivationTable& table, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const auto t = deviceTable(table);
  switch (dtype) {
    case DType::kFloat32:
      return backwardTyped<float>(grad, packed, gradIn, n, t, stream);
    case DType::kFloat16:
      return backwardTyped<__half>(grad, packed, gradIn, n, t, stream);
    case DType::kBFloat16:
      return backwardTyped<__nv_bfloat16>(grad, packed, gradIn, n, t, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t activationCodes(DType dtype, const void* x, uint8_t* codes, int64_t n,
                            const ActivationTable& table, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const auto t = deviceTable(table);
  const auto grid = gridFor(n);
  switch (dtype) {
    case DType::kFloat32:
      codesKernel<<<grid, kThreads, 0, stream>>>(static_cast<const float*>(x), codes, n, t);
      break;
    case DType::kFloat16:
      codesKernel<<<grid, kThreads, 0, stream>>>(static_cast<const __half*>(x), codes, n, t);
      break;
    case DType::kBFloat16:
      codesKernel<<<grid, kThreads, 0, stream>>>(static_cast<const __nv_bfloat16*>(x), codes, n, t);
      break;
  }
  return cudaGetLastError();
}

}  // namespace lowmem::kernels::cuda
