#pragma once
// What a stored trace must satisfy before the analysis indexes by it: every string, op and parent id in
// range, parents before their children (so walking up always ends), memory events in sequence order with
// sizes a machine can have, no address allocated twice while alive. A session file is data from outside the
// process: a damaged or crafted one is refused with the reason, never read out of bounds or looped on.

#include <string>

#include "core/trace.h"

namespace lowmem {

// Larger than any memory a process can hold (1 PiB): a byte count beyond it is damage.
inline constexpr int64_t kMaxStorageBytes = int64_t{1} << 50;

// The first problem found, in words ("memory event 12 names op 40 of 3"); empty when the trace is sound.
std::string traceProblem(const Trace& trace);

}  // namespace lowmem
