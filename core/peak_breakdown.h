#pragma once
// What is alive at the peak, grouped three ways (category, module, allocating op): the question a user asks
// first of a profile. Plain data over a Trace and its Profile.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/profile.h"

namespace lowmem {

using ByteRows = std::vector<std::pair<std::string, int64_t>>;  // name, bytes; largest first

struct PeakBreakdown {
  ByteRows byCategory;
  // Storages without a module (parameters, state, anything allocated outside the model's ops) are grouped
  // under "(category)".
  ByteRows byModule;
  // The op that asked for the memory, "aten::gelu" (requestingOp: not the aten::empty it called); storages
  // from before the step under "(before the step)".
  ByteRows byOp;
};

PeakBreakdown peakBreakdown(const Trace& trace, const Profile& profile);

// The op on whose behalf `op` allocates: `op` itself, or, when it is an allocation helper (aten::empty,
// aten::empty_strided, ...) that another op called, the nearest enclosing op that is not one. -1 stays -1.
int32_t requestingOp(const Trace& trace, int32_t op);

// When the peak happens: the phase, the op whose allocation reached it, the module that op ran in (for a
// backward op, the module of the forward op its autograd node belongs to), and the time into the step.
struct PeakMoment {
  Phase phase = Phase::kBefore;
  std::string op;            // "" when the peak is the state before the step
  std::string module;        // "" when none is known
  std::string backwardNode;  // "MmBackward0" when the op ran inside an autograd node
  double secondsIntoStep = 0;
};

PeakMoment peakMoment(const Trace& trace, const Profile& profile);

// "backward: aten::mm in encoder.layer_0.mlp.fc2 (MmBackward0), 0.061 s into the step".
// `withTime`: the seconds into the step too (not for a predicted step, whose timing is the traced one's).
std::string peakMomentText(const PeakMoment& moment, bool withTime = true);

// Largest first, ties by name; at most `limit` rows (0: all).
void sortRows(ByteRows& rows, size_t limit = 0);

}  // namespace lowmem
