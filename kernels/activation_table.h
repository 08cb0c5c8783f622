#pragma once
// The step-function derivatives of ReGELU-k / ReSiLU-k (arXiv 2406.16282 §3; paper.md §1): thresholds c_i and
// the derivative level for each code. Plain data usable from C++ and CUDA; no LibTorch.
//
// For k bits there are 2^k - 1 thresholds; code(x) = #{i : x > c_i} (strict, in fp32) and
// dh~/dx = level[code] with level[0] = 0 and level[j] = a_1 + ... + a_j (level[2^k - 1] = 1).

#include <cstdint>

namespace lowmem::kernels {

enum class ActivationFn : int { kGelu = 0, kSilu = 1 };

inline constexpr int kMaxBits = 4;
inline constexpr int kMaxThresholds = (1 << kMaxBits) - 1;

struct ActivationTable {
  int bits = 2;
  int thresholds = 3;                    // 2^bits - 1
  float c[kMaxThresholds] = {};          // ascending
  float level[kMaxThresholds + 1] = {};  // derivative per code, fp32 (the kernels' arithmetic)
  double a[kMaxThresholds] = {};         // the published/fitted slopes, for references and reports
  double cExact[kMaxThresholds] = {};    // thresholds as published/fitted (double)
};

// bits in {2, 3, 4}; anything else throws std::invalid_argument.
const ActivationTable& activationTable(ActivationFn fn, int bits);

const char* activationName(ActivationFn fn);

// Bytes of the packed codes of n elements: element i's code sits at bit i*bits of a little-endian bit stream,
// so for 2 bits element i is in byte i >> 2 at bits 2*(i & 3) and 2*(i & 3) + 1, as paper.md specifies.
inline constexpr int64_t packedBytes(int64_t n, int bits) {
  return (n * bits + 7) / 8;
}

}  // namespace lowmem::kernels
