// ReGELU-k / ReSiLU-k on CPU: forward writes exact h(x) and k-bit codes (fp32/bf16 take h from ATen, see
// activationForward), backward is one pass (level lookup).
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
inline Vec geluVec(const Vec& x) {
  return x * Vec(0.5f) * (Vec(1.f) + (x * Vec(static_cast<float>(M_SQRT1_2))).erf());
}
inline Vec siluVec(const Vec& x) {
  return x / (Vec(1.f) + x.neg().exp());
}
inline double geluScalar(double x) {
  return x * 0.5 * (1.0 + std::erf(x * M_SQRT1_2));
}
inline double siluScalar(double x) {
  return x / (1.0 + std::exp(-x));
}

// Codes of 8 lanes as a `bits`-wide little-endian bit field.
template <int kBits>
inline uint32_t packLanes(const Vec& x, const ActivationTable& t) {
  constexpr int kThresholds = (1 << kBits) - 1;
#ifdef CPU_CAPABILITY_AVX2
  // Each compare gives all-ones lanes; subtracting them counts thresholds passed. Lane j's code is then
  // shifted to bit j*bits and the lanes are OR-folded: no scalar round trip.
  __m256i count = _mm256_setzero_si256();
  for (int i = 0; i < kThresholds; ++i) {
    count =
        _mm256_sub_epi32(count, _mm256_castps_si256(_mm256_cmp_ps(x, _mm256_set1_ps(t.c[i]), _CMP_GT_OQ)));
  }
  const __m256i shifts =
      _mm256_setr_epi32(0, kBits, 2 * kBits, 3 * kBits, 4 * kBits, 5 * kBits, 6 * kBits, 7 * kBits);
  __m256i shifted = _mm256_sllv_epi32(count, shifts);
  __m128i folded = _mm_or_si128(_mm256_castsi256_si128(shifted), _mm256_extracti128_si256(shifted, 1));
  folded = _mm_or_si128(folded, _mm_shuffle_epi32(folded, _MM_SHUFFLE(1, 0, 3, 2)));
  folded = _mm_or_si128(folded, _mm_shuffle_epi32(folded, _MM_SHUFFLE(2, 3, 0, 1)));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(folded));
#else
  Vec count(0.f);
  for (int i = 0; i < kThresholds; ++i)
    count = count + ((x > Vec(t.c[i])) & Vec(1.f));
  float lanes[kLanes];
  count.store(lanes);
  uint32_t field = 0;
  for (int64_t j = 0; j < kLanes; ++j)
    field |= static_cast<uint32_t>(lanes[j]) << (j * kBits);
  return field;
#endif
}

// level[code] for the 8 codes of a bit field.
template <int kBits>
inline Vec levelsOf(uint32_t field, const ActivationTable& t) {
#ifdef CPU_CAPABILITY_AVX2
  const __m256i shifts =
      _mm256_setr_epi32(0, kBits, 2 * kBits, 3 * kBits, 4 * kBits, 5 * kBits, 6 * kBits, 7 * kBits);
  const __m256i codes =
      _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(static_cast<int>(field)), shifts),
                       _mm256_set1_epi32((1 << kBits) - 1));
  // Up to 8 levels sit in one register and permute by code; 16 levels (4 bits) take two and a blend.
  const __m256 low = _mm256_loadu_ps(t.level);
  __m256 picked = _mm256_permutevar8x32_ps(low, codes);
  if constexpr (kBits == 4) {
    const __m256 high = _mm256_loadu_ps(t.level + 8);
    const __m256 fromHigh = _mm256_permutevar8x32_ps(high, codes);
    const __m256 isHigh = _mm256_castsi256_ps(_mm256_cmpgt_epi32(codes, _mm256_set1_epi32(7)));
    picked = _mm256_blendv_ps(picked, fromHigh, isHigh);
  }
  return picked;
#else
  float levels[kLanes];
  constexpr uint32_t kMask = (1u << kBits) - 1u;
  for (int64_t j = 0; j < kLanes; ++j)
    levels[j] = t.level[(field >> (j * kBits)) & kMask];
  return Vec::loadu(levels);
#endif
}

inline int codeOf(double x, const ActivationTable& t) {
  int code = 0;
  for (int i = 0; i < t.thresholds; ++i)
    code += x > static_cast<double>(t.c[i]);
  return code;
}

// The partial block at the end: fewer than 8 elements, and only the bytes that packedBytes counts.
void writeTailBytes(uint8_t* packed, int64_t firstByte, uint32_t field, int64_t n, int bits) {
  const int64_t end = packedBytes(n, bits);
  for (int64_t b = firstByte; b < end; ++b)
    packed[b] = static_cast<uint8_t>(field >> (8 * (b - firstByte)));
}

// A full block's field: fixed-size accesses, so no memcpy call per block.
template <int kBits>
inline void storeField(uint8_t* p, uint32_t field) {
  if constexpr (kBits == 2) {
    const auto v = static_cast<uint16_t>(field);
    std::memcpy(p, &v, 2);
  } else if constexpr (kBits == 4) {
    std::memcpy(p, &field, 4);
  } else {
    for (int b = 0; b < kBits; ++b)
      p[b] = static_cast<uint8_t>(field >> (8 * b));
  }
}

template <int kBits>
inline uint32_t loadField(const uint8_t* p) {
  if constexpr (kBits == 2) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
  } else if constexpr (kBits == 4) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  } else {
    uint32_t field = 0;
    for (int b = 0; b < kBits; ++b)
      field |= static_cast<uint32_t>(p[b]) << (8 * b);
    return field;
  }
}

// Calls f.template operator()<kBits>() with bits as a compile-time constant, so the inner loops unroll.
template <typename F>
void withBits(int bits, F&& f) {
  switch (bits) {
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 3:
      return f(std::integral_constant<int, 3>{});
    case 4:
      return f(std::integral_constant<int, 4>{});
    default:
      TORCH_CHECK(false, "lowmem: unsupported code width ", bits);
  }
}

uint32_t readBlock(const uint8_t* packed, int64_t block, int bits, int64_t n) {
  const int64_t first = block * bits;
  const int64_t end = std::min<int64_t>(first + bits, packedBytes(n, bits));
  uint32_t field = 0;
  for (int64_t b = first; b < end; ++b)
    field |= static_cast<uint32_t>(packed[b]) << (8 * (b - first));
  return field;
}

// kCompute = false writes only the codes (y comes from ATen, see activationForward).
template <typename T, bool kCompute, int kBits>
void forwardFloatBits(const T* x, T* y, uint8_t* packed, int64_t n, const ActivationTable& t,
                      ActivationFn fn) {
  const int64_t blocks = n / kLanes;
  auto compute = [fn](const Vec& v) { return fn == ActivationFn::kGelu ? geluVec(v) : siluVec(v); };
  at::parallel_for(0, blocks, kGrainBlocks, [&](int64_t b0, int64_t b1) {
    int64_t b = b0;
    for (; b + 1 < b1; b += 2) {
      Vec x0, x1;
      FloatIo<T>::load2(x + b * kLanes, x0, x1);
      if constexpr (kCompute) FloatIo<T>::store2(y + b * kLanes, compute(x0), compute(x1));
      if (packed) {
        storeField<kBits>(packed + b * kBits, packLanes<kBits>(x0, t));
        storeField<kBits>(packed + (b + 1) * kBits, packLanes<kBits>(x1, t));
      }
    }
    for (; b < b1; ++b) {
      const Vec xv = FloatIo<T>::load(x + b * kLanes);
      if constexpr (kCompute) FloatIo<T>::store(y + b * kLanes, compute(xv));
      if (packed) storeField<kBits>(packed + b * kBits, packLanes<kBits>(xv, t));
    }
  });
  const int64_t rest = n - blocks * kLanes;
  if (rest == 0) return;
  // Unused lanes load as 0 and their codes are masked away, so the tail uses the same vector code.
  const Vec xv = FloatIo<T>::load(x + blocks * kLanes, rest);
  if constexpr (kCompute) FloatIo<T>::store(y + blocks * kLanes, compute(xv), rest);
  if (packed) {
    const uint32_t field = packLanes<kBits>(xv, t) & ((1u << (rest * kBits)) - 1u);
    writeTailBytes(packed, blocks * kBits, field, n, kBits);
  }
}

template <typename T, bool kCompute>
void forwardFloat(const T* x, T* y, uint8_t* packed, int64_t n, const ActivationTable& t, ActivationFn fn) {
  withBits(t.bits,
           [&](auto bits) { forwardFloatBits<T, kCompute, decltype(bits)::value>(x, y, packed, n, t, fn); });
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
        withBits(t.bits, [&](auto bits) { storeField<decltype(bits)::value>(packed + b * t.bits, field); });
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
  const auto dtype = x.scalar_type();
  if (dtype == at::kFloat || dtype == at::kBFloat16) {
    // ATen picks its own kernel at run time: oneDNN's GELU on Debian's LibTorch, and a DEFAULT/AVX2/AVX512
    // build of SiLU chosen by the CPU, whose exp differs from our AVX2 build in the last bit on AVX512
    // machines. Calling ATen keeps the forward bit-identical to at::gelu / at::silu on every machine (the
    // patched model computes exactly the original function); the codes then take a second, compute-free
    // pass over x (x read twice: 4.25 bytes more per element than one pass).
    auto out = y;
    if (fn == ActivationFn::kGelu) {
      at::gelu_out(out, x);
    } else {
      at::silu_out(out, x);
    }
    if (!codes) return;
    if (dtype == at::kFloat) return forwardFloat<float, false>(x.data_ptr<float>(), nullptr, codes, n, t, fn);
    return forwardFloat<c10::BFloat16, false>(x.data_ptr<c10::BFloat16>(), nullptr, codes, n, t, fn);
  }
  switch (dtype) {
    case at::kFloat:
      return forwardFloat<float, true>(x.data_ptr<float>(), y.data_ptr<float>(), codes, n, t, fn);
    case at::kBFloat16:
      return forwardFloat<c10::BFloat16, true>(x.data_ptr<c10::BFloat16>(), y.data_ptr<c10::BFloat16>(),
                                               codes, n, t, fn);
    case at::kHalf:
      return forwardFloat<c10::Half, true>(x.data_ptr<c10::Half>(), y.data_ptr<c10::Half>(), codes, n, t, fn);
    case at::kDouble:
      return forwardDouble(x.data_ptr<double>(), y.data_ptr<double>(), codes, n, t, fn);
    default:
      TORCH_CHECK(false, "lowmem: unsupported dtype ", x.scalar_type());
  }
}

template <typename T, int kBits>
void backwardBits(const T* grad, const uint8_t* packed, T* gradIn, int64_t n, const ActivationTable& t) {
  const int64_t blocks = (n + kLanes - 1) / kLanes;
  const int64_t fullBlocks = n / kLanes;
  at::parallel_for(0, blocks, kGrainBlocks, [&](int64_t b0, int64_t b1) {
    int64_t b = b0;
    if constexpr (!std::is_same_v<T, double>) {
      for (; b + 1 < std::min(b1, fullBlocks); b += 2) {
        Vec g0, g1;
        FloatIo<T>::load2(grad + b * kLanes, g0, g1);
        const Vec l0 = levelsOf<kBits>(loadField<kBits>(packed + b * kBits), t);
        const Vec l1 = levelsOf<kBits>(loadField<kBits>(packed + (b + 1) * kBits), t);
        FloatIo<T>::store2(gradIn + b * kLanes, g0 * l0, g1 * l1);
      }
    }
    for (; b < b1; ++b) {
      const int64_t lanes = std::min<int64_t>(kLanes, n - b * kLanes);
      const uint32_t field =
          lanes == kLanes ? loadField<kBits>(packed + b * kBits) : readBlock(packed, b, kBits, n);
      const Vec levels = levelsOf<kBits>(field, t);
      if constexpr (std::is_same_v<T, double>) {
        float l[kLanes];
        levels.store(l);
        for (int64_t j = 0; j < lanes; ++j)
          gradIn[b * kLanes + j] = grad[b * kLanes + j] * l[j];
      } else {
        const Vec g = FloatIo<T>::load(grad + b * kLanes, lanes);
        FloatIo<T>::store(gradIn + b * kLanes, g * levels, lanes);
      }
    }
  });
}

template <typename T>
void backwardTyped(const T* grad, const uint8_t* packed, T* gradIn, int64_t n, const ActivationTable& t) {
  withBits(t.bits, [&](auto bits) { backwardBits<T, decltype(bits)::value>(grad, packed, gradIn, n, t); });
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
void normForward(const at::Tensor& x, int64_t cols, double eps, bool rms, const at::Tensor& y,
                 const at::Tensor& rstd);
void normBackward(const at::Tensor& grad, const at::Tensor& y, const at::Tensor& rstd, int64_t cols, bool rms,
                  const at::Tensor& dx);
// Defined in attention_kernels.cpp of the same capability.
void attentionForward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                      const AttentionMask& mask, double scale, bool causal, const AttentionDropout& dropout,
                      const at::Tensor& o, const at::Tensor& lse);
void attentionBackward(const at::Tensor& grad, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                       const at::Tensor& o, const at::Tensor& lse, const AttentionMask& mask, double scale,
                       bool causal, const AttentionDropout& dropout, const at::Tensor& dq,
                       const at::Tensor& dk, const at::Tensor& dv, const at::Tensor& dmask);

const CpuKernels& kernels() {
  static const CpuKernels k = {C10_STRINGIZE(CPU_CAPABILITY),
                               activationForward,
                               activationBackward,
                               activationCodes,
                               normForward,
                               normBackward,
                               attentionForward,
                               attentionBackward};
  return k;
}
}  // namespace CPU_CAPABILITY

}  // namespace lowmem::kernels::cpu
