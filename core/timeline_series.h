#pragma once
// A profile's memory timeline reduced to at most N points for charts, keeping every bucket's maximum (so the
// peak is always drawn) with its time in milliseconds from the first event.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/profile.h"
#include "core/trace.h"

namespace lowmem {

struct SeriesPoint {
  double ms = 0;
  int64_t total = 0;
};

std::vector<SeriesPoint> decimatedTimeline(const Profile& profile, size_t maxPoints = 2000);

// Where `seq` falls in the step's progress with every phase scaled to one unit: phase k (the k-th mark of
// `phases`) spans [k, k + 1), the last one running to `endSeq`. Two runs of one step spec line up phase by
// phase however long each phase took (wall time varies several times between runs on a busy machine).
double phaseAlignedX(const std::vector<PhaseMark>& phases, int64_t seq, int64_t endSeq);

// The decimated timeline on that axis: x in phase units, the total at that point.
struct AlignedPoint {
  double x = 0;
  int64_t total = 0;
};
std::vector<AlignedPoint> phaseAlignedTimeline(const Trace& trace, const Profile& profile,
                                               size_t maxPoints = 2000);

// The first timeline point at or after `seq` (timeline.size() past the end): where a storage allocated at
// `seq` first counts, and the first point where one freed at `seq` no longer does.
size_t timelinePointAt(const Profile& profile, int64_t seq);

// The timeline points behind decimatedTimeline: each bucket's maximum, in order (for charts that need more of
// a point than its total, such as the per-category stack).
std::vector<size_t> decimatedIndices(const Profile& profile, size_t maxPoints = 2000);

// The `count` largest storages alive at each of `seqs` (ascending), largest first (ties by index): one sweep
// over the lifetimes with a heap, O((storages + seqs * count) log storages), so a hover reads a short list
// instead of scanning every storage.
std::vector<std::vector<size_t>> largestAliveAt(const Profile& profile, const std::vector<int64_t>& seqs,
                                                size_t count);

}  // namespace lowmem
