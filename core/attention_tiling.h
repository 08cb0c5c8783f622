#pragma once
// How lowmem::attention's CPU kernels cut their work, shared by the kernels
// (kernels/cpu/attention_kernels.cpp) and the peak prediction, which adds the backward's block scratch. Plain
// arithmetic: no LibTorch here.

#include <algorithm>
#include <cstdint>

namespace lowmem {

// Query rows per block: about 64K scores a slice's block (256 KiB in fp32, within L2), at least 16 rows; a
// whole ViT slice (197 × 197) is one block, a 2,048-token one 32 rows.
inline int64_t attentionRowsPerBlock(int64_t keys) {
  return std::max<int64_t>(16, (int64_t{1} << 16) / std::max<int64_t>(1, keys));
}

// Tasks of `group` slices, each in blocks of `block` query rows. A slice that fits one block is grouped with
// others (up to about a million scores a task: one batched product each instead of one per slice), as many
// tasks as threads if possible, a group never crossing a batch index of 4-d heads (`heads` slices each).
struct AttentionTiling {
  int64_t group = 1;
  int64_t block = 1;
};

inline AttentionTiling attentionTiling(int64_t slices, int64_t sq, int64_t sk, int64_t heads, int threads) {
  const int64_t block = std::min(sq, attentionRowsPerBlock(sk));
  if (block < sq) return {1, block};
  const int64_t cap = std::max<int64_t>(1, (int64_t{1} << 20) / std::max<int64_t>(1, sq * sk));
  const int64_t t = std::max(1, threads);
  const int64_t perThread = (slices + t - 1) / t;
  int64_t group = std::max<int64_t>(1, std::min(cap, perThread));
  while (heads % group != 0)
    --group;
  return {group, block};
}

// The largest block's scratch in backward, bytes: the scores (then the probabilities), dP (then dS) and, with
// dropout, the block's factors, `group × block × sk` each, and the row sums of dO ∘ O, in the arithmetic type
// (`accBytes`: 4, 8 for fp64).
inline int64_t attentionBackwardBlockBytes(const AttentionTiling& t, int64_t sq, int64_t sk, bool dropout,
                                           int64_t accBytes) {
  const int64_t rows = t.group * std::min(sq, t.block);
  return (rows * sk * (dropout ? 3 : 2) + rows) * accBytes;
}

}  // namespace lowmem
