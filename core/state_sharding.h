#pragma once
// ZeRO-3 / FSDP-style sharding as a memory model: every rank keeps 1/N of the parameters, their gradients and
// the optimizer state for the whole step; activations, inputs and temporaries stay whole. Not counted: the
// transient all-gathered copy of the layer being computed and communication buffers (a model, stated where
// its figures are printed).

#include "core/profile.h"
#include "core/trace.h"

namespace lowmem {

// `trace` with each parameter, gradient and optimizer-state storage (as `profile`, its analysis, categorised
// them) 1/`ranks` the size, rounded up.
Trace shardedState(const Trace& trace, const Profile& profile, int ranks);

}  // namespace lowmem
