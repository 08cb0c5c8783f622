#pragma once
// The alternative a user already knows: activation checkpointing per transformer block (the top-level
// repeated module), priced from the baseline profile so `suggest` can show it beside the swaps. Nothing is
// applied.
//
// Model: each block keeps only its input; what its forward allocated and the backward would have found alive
// is dropped, and re-materialised one block at a time during backward, at the cost of running the block's
// forward again. A block's output is not dropped: it is the next block's (or the head's) checkpointed input.

#include <cstdint>
#include <string>
#include <vector>

#include "core/profile.h"
#include "core/trace.h"

namespace lowmem {

struct BlockCheckpoint {
  std::string module;           // "encoder.layer_3"
  int64_t activationBytes = 0;  // activations its forward ops allocated that are alive at the peak
  int64_t keptBytes =
      0;  // of those, its output (the last storage its forward allocated): the next block's input
  double forwardSeconds = 0;  // the block's forward in the traced step: the recompute cost
};

struct CheckpointPricing {
  bool found = false;  // false: no repeated module holding activations at the peak
  std::string why;     // when not found
  std::string level;   // "encoder.layer_*"
  std::vector<BlockCheckpoint> blocks;
  int64_t droppedBytes = 0;         // sum of (activation - kept) over the blocks
  int64_t rematerialisedBytes = 0;  // the largest block's dropped bytes, alive again during its backward
  int64_t baselinePeak = 0;
  int64_t predictedPeak = 0;    // baseline peak - dropped + rematerialised
  double recomputeSeconds = 0;  // sum of the blocks' forward times
  double stepSeconds = 0;       // the traced step, forward to the end of the optimizer
  double slowdown() const { return stepSeconds > 0 ? recomputeSeconds / stepSeconds : 0; }
};

// Blocks are the children of the shallowest repeated level ("layer_3", "layers.3", "h.3": a path component
// that is or ends with an index, with two or more siblings) holding the most activation bytes at the peak.
CheckpointPricing priceCheckpointing(const Trace& trace, const Profile& profile);

}  // namespace lowmem
