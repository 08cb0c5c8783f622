#include "core/timeline_series.h"

#include <algorithm>

namespace lowmem {

std::vector<size_t> decimatedIndices(const Profile& p, size_t maxPoints) {
  std::vector<size_t> out;
  if (p.timeline.empty() || maxPoints == 0) return out;
  const size_t n = p.timeline.size();
  const size_t bucket = std::max<size_t>(1, (n + maxPoints - 1) / maxPoints);
  for (size_t start = 0; start < n; start += bucket) {
    size_t best = start;
    for (size_t i = start; i < std::min(n, start + bucket); ++i) {
      if (p.timeline[i].total > p.timeline[best].total) best = i;
    }
    out.push_back(best);
  }
  return out;
}

std::vector<SeriesPoint> decimatedTimeline(const Profile& p, size_t maxPoints) {
  std::vector<SeriesPoint> out;
  const auto indices = decimatedIndices(p, maxPoints);
  for (size_t i : indices) {
    out.push_back(
        {static_cast<double>(p.timeline[i].timeNs - p.timeline.front().timeNs) / 1e6, p.timeline[i].total});
  }
  return out;
}

}  // namespace lowmem
