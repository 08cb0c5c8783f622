#pragma once
// Loads and stores of 8 elements of any supported storage dtype as one Vectorized<float> (fp32 arithmetic).
// Compiled once per CPU capability (DEFAULT, AVX2): Vectorized<float> is 8 lanes in both.

#include <ATen/cpu/vec/vec.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <cstdint>

namespace lowmem::kernels::cpu {
namespace CPU_CAPABILITY {

using Vec = at::vec::Vectorized<float>;
static_assert(Vec::size() == 8, "kernels assume 8 fp32 lanes (DEFAULT and AVX2 builds)");
inline constexpr int64_t kLanes = 8;

template <typename T>
struct FloatIo;

// load2/store2 move 16 elements: for bf16 one full conversion instead of two half-used ones.
template <>
struct FloatIo<float> {
  static Vec load(const float* p, int64_t count = kLanes) { return Vec::loadu(p, count); }
  static void store(float* p, const Vec& v, int64_t count = kLanes) { v.store(p, static_cast<int>(count)); }
  static void load2(const float* p, Vec& lo, Vec& hi) {
    lo = Vec::loadu(p);
    hi = Vec::loadu(p + kLanes);
  }
  static void store2(float* p, const Vec& lo, const Vec& hi) {
    lo.store(p);
    hi.store(p + kLanes);
  }
};

template <>
struct FloatIo<c10::BFloat16> {
  using BVec = at::vec::Vectorized<c10::BFloat16>;
  static Vec load(const c10::BFloat16* p, int64_t count = kLanes) {
    Vec lo, hi;
    if (count == kLanes) {
      std::tie(lo, hi) = at::vec::convert_bfloat16_float(BVec::loadu(p, count));
      return lo;
    }
    // ATen's partial bf16 load leaves the other lanes uninitialised; reductions need them zero.
    c10::BFloat16 tmp[BVec::size()] = {};
    for (int64_t j = 0; j < count; ++j)
      tmp[j] = p[j];
    std::tie(lo, hi) = at::vec::convert_bfloat16_float(BVec::loadu(tmp));
    return lo;
  }
  static void store(c10::BFloat16* p, const Vec& v, int64_t count = kLanes) {
    at::vec::convert_float_bfloat16(v, Vec(0.f)).store(p, static_cast<int>(count));
  }
  static void load2(const c10::BFloat16* p, Vec& lo, Vec& hi) {
    std::tie(lo, hi) = at::vec::convert_bfloat16_float(BVec::loadu(p));
  }
  static void store2(c10::BFloat16* p, const Vec& lo, const Vec& hi) {
    at::vec::convert_float_bfloat16(lo, hi).store(p);
  }
};

// ATen 1.13 has no Vectorized<Half> arithmetic on CPU: convert lane by lane, compute in fp32.
template <>
struct FloatIo<c10::Half> {
  static Vec load(const c10::Half* p, int64_t count = kLanes) {
    float tmp[kLanes] = {};
    for (int64_t j = 0; j < count; ++j)
      tmp[j] = static_cast<float>(p[j]);
    return Vec::loadu(tmp);
  }
  static void store(c10::Half* p, const Vec& v, int64_t count = kLanes) {
    float tmp[kLanes];
    v.store(tmp);
    for (int64_t j = 0; j < count; ++j)
      p[j] = static_cast<c10::Half>(tmp[j]);
  }
  static void load2(const c10::Half* p, Vec& lo, Vec& hi) {
    lo = load(p);
    hi = load(p + kLanes);
  }
  static void store2(c10::Half* p, const Vec& lo, const Vec& hi) {
    store(p, lo);
    store(p + kLanes, hi);
  }
};

inline float reduceSum(const Vec& v) {
  float tmp[kLanes];
  v.store(tmp);
  float s = 0.f;
  for (float t : tmp)
    s += t;
  return s;
}

}  // namespace CPU_CAPABILITY
}  // namespace lowmem::kernels::cpu
