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
  // The allocating op, "aten::gelu"; storages from before the step under "(before the step)".
  ByteRows byOp;
};

PeakBreakdown peakBreakdown(const Trace& trace, const Profile& profile);

// Largest first, ties by name; at most `limit` rows (0: all).
void sortRows(ByteRows& rows, size_t limit = 0);

}  // namespace lowmem
