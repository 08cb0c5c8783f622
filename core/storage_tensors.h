#pragma once
// What tensor each storage held: the first tensor an op returned in it while it was alive (Trace::outputs,
// recorded with --record-shapes), which gives the storage a shape and dtype. The session's storage_tensors
// view answers the same in SQL.

#include <cstdint>
#include <string>
#include <vector>

#include "core/profile.h"
#include "core/trace.h"

namespace lowmem {

// Per storage of `profile`, an index into `trace.outputs`, or -1 when no op returned a tensor in it while it
// was alive (shapes not recorded, or a storage only an allocation helper touched).
std::vector<int32_t> storageTensors(const Trace& trace, const Profile& profile);

// "[2,197,768] float32"; "" for -1.
std::string tensorText(const Trace& trace, int32_t output);

}  // namespace lowmem
