#pragma once
// The step's largest storages as stacked bands over the memory events (PyTorch memory_viz's "active memory
// timeline"): every one of them a band as tall as its bytes from its allocation to its free, stacked in
// allocation order on top of everything else, so a band drops when one below it is freed and the top edge is
// the total. x is the timeline's point index (one per memory event): the order of events, not wall time,
// which varies several times between runs and would squash the short phases.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/profile.h"

namespace lowmem {

// From timeline point `point` until the next step (or the band's end), the band's lower edge is `bottom`.
struct BandStep {
  size_t point = 0;
  int64_t bottom = 0;
};

struct StorageBand {
  size_t storage = 0;     // index into Profile::storages
  size_t firstPoint = 0;  // alive over timeline points [firstPoint, endPoint)
  size_t endPoint = 0;
  std::vector<BandStep> steps;  // ascending points, the first at firstPoint
};

struct StorageBands {
  std::vector<StorageBand> bands;  // in allocation order, the first stacked lowest
  // The top of the storages not drawn as bands (the smaller ones and those alive before the step), stacked
  // from zero: the band every other one sits on.
  std::vector<BandStep> others;
  size_t pointCount = 0;  // x runs over [0, pointCount)
};

// The `maxBands` largest storages allocated during the step (ties by index); the level of the rest is taken
// at the decimated timeline's points (at most `maxPoints`, the peak among them) and at every band's ends.
StorageBands storageBands(const Profile& profile, size_t maxBands = 150, size_t maxPoints = 2000);

// The band whose area covers (point, bytes), or -1 (the others' band, or nothing).
int storageBandAt(const StorageBands& bands, const Profile& profile, double point, double bytes);

// A band's lower edge at `point` (which it must cover).
int64_t bandBottomAt(const StorageBand& band, size_t point);

}  // namespace lowmem
