// ReGELU-k / ReSiLU-k on CPU: one pass forward (exact h(x), k-bit codes), one pass backward (level lookup).
// Work is split into blocks of 8 elements, which own exactly `bits` bytes of the packed codes, so threads
// never share a byte. Compiled per CPU capability (see kernels/CMakeLists.txt).

#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/float_io.h"

namespace lowmem::kernels::cpu {
namespace CPU_CAPABILITY {
namespace {

constexpr int64_t kGrainBlocks = 4096;  // 32K elements per task, as ATen's grain

// ATen's own expressions (GeluKernelImpl / SiLUKernel), so the vectorised lanes agree bit for bit.
inline Vec geluVec(const Vec& x) { return x * Vec(0.5f) * (Vec(1.f) + (x * Vec(static_cast<float>(M_SQRT1_2))).erf()); }
inline Vec siluVec(const Vec& x) { return x / (Vec(1.f) + x.neg().exp()); }
inline double geluScalar(double x) { return x * 0.5 * (1.0 + std::erf(x * M_SQRT1_2)); }
inline double siluScalar(double x) { return x / (1.0 + std::exp(-x)); }

// Codes of 8 lanes as a `bits`-wide little-endian bit field.
inline uint32_t packLanes(const Vec& x, const ActivationTable& t) {
  Vec count(0.f);
  for (int i = 0; i < t.thresholds; ++i) count = count + ((x > Vec(t.c[i])) & Vec(1.f));
  float lanes[kLanes];
  count.store(lanes);
  uint32_t field = 0;
  for (int64_t j = 0; j < kLanes; ++j) field |= static_cast<uint32_t>(lanes[j]) << (j * t.bits);
  return field;
}

inline int codeOf(double x, const ActivationTable& t) {
  int code = 0;
  for (int i = 0; i < t.thresholds; ++i) code += x > static_cast<double>(t.c[i]);
  return code;
}

// The partial block at the end: fewer than 8 elements, and only the bytes that packedBytes counts.
void writeTailBytes(uint8_t* packed, int64_t firstByte, uint32_t field, int64_t n, int bits) {
  const int64_t end = packedBytes(n, bits);
  for (int64_t b = firstByte; b < end; ++b) packed[b] = static_cast<uint8_t>(field >> (8 * (b - firstByte)));
}

uint32_t readBlock(const uint8_t* packed, int64_t block, int bits, int64_t n) {
  const int64_t first = block * bits;
  const int64_t end = std::min<int64_t>(first + bits, packedBytes(n, bits));
  uint32_t field = 0;
  for (int64_t b = first; b < end; ++b) field |= static_cast<uint32_t>(packed[b]) << (8 * (b - first));
  return field;
}

template <typename T>
void forwardFloat(const T* x, T* y, uint8_t* packed, int64_t n, const ActivationTable& t, ActivationFn fn) {
  const int64_t blocks = n / kLanes;
  auto compute = [fn](const Vec& v) { return fn == ActivationFn::kGelu ? geluVec(v) : siluVec(v); };
  at::parallel_for(0, blocks, kGrainBlocks, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const Vec xv = FloatIo<T>::load(x + b * kLanes);
      FloatIo<T>::store(y + b * kLanes, compute(xv));
      if (packed) {
        const uint32_t field = packLanes(xv, t);
        std::memcpy(packed + b * t.bits, &field, static_cast<size_t>(t.bits));
      }
    }
  });
  const int64_t rest = n - blocks * kLanes;
  if (rest == 0) return;
  // Unused lanes load as 0 and their codes are masked away, so the tail uses the same vector code.
  const Vec xv = FloatIo<T>::load(x + blocks * kLanes, rest);
  FloatIo<T>::store(y + blocks * kLanes, compute(xv), rest);
  if (packed) {
    const uint32_t field = packLanes(xv, t) & ((1u << (rest * t.bits)) - 1u);
    writeTailBytes(packed, blocks * t.bits, field, n, t.bits);
  }
}

void forwardDouble(const double* x, double* y, uint8_t* packed, int64_t n, const ActivationTable& t,
                   ActivationFn fn) {
  const int64_t blocks = (n + kLanes - 1) / kLanes;
  at::parallel_for(0, blocks, kGrainBlocks, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t lanes = std::min<int64_t>(kLanes, n - b * kLanes);
      uint32_t field = 0;
      for (int64_t j = 0; j < lanes; ++j) {
        const double v = x[b * kLanes + j];
        y[b * kLanes + j] = fn == ActivationFn::kGelu ? geluScalar(v) : siluScalar(v);
        field |= static_cast<uint32_t>(codeOf(v, t)) << (j * t.bits);
      }
      if (!packed) continue;
      if (lanes == kLanes) {
        std::memcpy(packed + b * t.bits, &field, static_cast<size_t>(t.bits));
      } else {
        writeTailBytes(packed, b * t.bits, field, n, t.bits);
      }
    }
  });
}

void activationForward(const at::Tensor& x, const at::Tensor& y, const at::Tensor& packed,
                       const ActivationTable& t, ActivationFn fn) {
  const int64_t n = x.numel();
  uint8_t* codes = packed.defined() ? packed.data_ptr<uint8_t>() : nullptr;
  switch (x.scalar_type()) {
    case at::kFloat:
      return forwardFloat(x.data_ptr<float>(), y.data_ptr<float>(), codes, n, t, fn);
    case at::kBFloat16:
      return forwardFloat(x.data_ptr<c10::BFloat16>(), y.data_ptr<c10::BFloat16>(), codes, n, t, fn);
    case at::kHalf:
      return forwardFloat(x.data_ptr<c10::Half>(), y.data_ptr<c10::Half>(), codes, n, t, fn);
    case at::kDouble:
      return forwardDouble(x.data_ptr<double>(), y.data_ptr<double>(), codes, n, t, fn);
    default:
      TORCH_CHECK(false, "lowmem: unsupported dtype ", x.scalar_type());
  }
}

template <typename T>
void backwardTyped(const T* grad, const uint8_t* packed, T* gradIn, int64_t n, const ActivationTable& t) {
  const int64_t blocks = (n + kLanes - 1) / kLanes;
  const uint32_t mask = (1u << t.bits) - 1u;
  at::parallel_for(0, blocks, kGrainBlocks, [&](int64_t b0, int64_t b1) {
    float levels[kLanes];
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t lanes = std::min<int64_t>(kLanes, n - b * kLanes);
      uint32_t field;
      if (lanes == kLanes) {
        field = 0;
        std::memcpy(&field, packed + b * t.bits, static_cast<size_t>(t.bits));
      } else {
        field = readBlock(packed, b, t.bits, n);
      }
      for (int64_t j = 0; j < kLanes; ++j) levels[j] = t.level[(field >> (j * t.bits)) & mask];
      if constexpr (std::is_same_v<T, double>) {
        for (int64_t j = 0; j < lanes; ++j) gradIn[b * kLanes + j] = grad[b * kLanes + j] * levels[j];
      } else {
        const Vec g = FloatIo<T>::load(grad + b * kLanes, lanes);
        FloatIo<T>::store(gradIn + b * kLanes, g * Vec::loadu(levels), lanes);
      }
    }
  });
}

void activationBackward(const at::Tensor& grad, const at::Tensor& packed, const at::Tensor& gradIn,
                        const ActivationTable& t) {
  const int64_t n = grad.numel();
  const uint8_t* codes = packed.data_ptr<uint8_t>();
  switch (grad.scalar_type()) {
    case at::kFloat:
      return backwardTyped(grad.data_ptr<float>(), codes, gradIn.data_ptr<float>(), n, t);
    case at::kBFloat16:
      return backwardTyped(grad.data_ptr<c10::BFloat16>(), codes, gradIn.data_ptr<c10::BFloat16>(), n, t);
    case at::kHalf:
      return backwardTyped(grad.data_ptr<c10::Half>(), codes, gradIn.data_ptr<c10::Half>(), n, t);
    case at::kDouble:
      return backwardTyped(grad.data_ptr<double>(), codes, gradIn.data_ptr<double>(), n, t);
    default:
      TORCH_CHECK(false, "lowmem: unsupported dtype ", grad.scalar_type());
  }
}

void activationCodes(const at::Tensor& x, const at::Tensor& codes, const ActivationTable& t) {
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "lowmem_codes", [&] {
    const scalar_t* in = x.data_ptr<scalar_t>();
    uint8_t* out = codes.data_ptr<uint8_t>();
    const bool wide = std::is_same_v<scalar_t, double>;
    at::parallel_for(0, x.numel(), 32768, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        // fp32 comparison for every dtype but fp64 (paper.md: strict >, in fp32).
        const double v = wide ? static_cast<double>(in[i]) : static_cast<double>(static_cast<float>(in[i]));
        out[i] = static_cast<uint8_t>(codeOf(v, t));
      }
    });
  });
}

}  // namespace
}  // namespace CPU_CAPABILITY

// Defined in norm_kernels.cpp of the same capability.
namespace CPU_CAPABILITY {
void normForward(const at::Tensor& x, int64_t cols, double eps, bool rms, const at::Tensor& y, const at::Tensor& rstd);
void normBackward(const at::Tensor& grad, const at::Tensor& y, const at::Tensor& rstd, int64_t cols, bool rms,
                  const at::Tensor& dx);

const CpuKernels& kernels() {
  static const CpuKernels k = {C10_STRINGIZE(CPU_CAPABILITY), activationForward, activationBackward,
                               activationCodes, normForward, normBackward};
  return k;
}
}  // namespace CPU_CAPABILITY

}  // namespace lowmem::kernels::cpu
