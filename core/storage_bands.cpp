#include "core/storage_bands.h"

#include <algorithm>

#include "core/timeline_series.h"

namespace lowmem {
namespace {

std::vector<size_t> largestAllocatedInStep(const Profile& profile, size_t maxBands) {
  std::vector<size_t> picked;
  for (size_t i = 0; i < profile.storages.size(); ++i) {
    if (profile.storages[i].allocSeq >= 0 && profile.storages[i].bytes > 0) picked.push_back(i);
  }
  const auto larger = [&](size_t a, size_t b) {
    const auto ba = profile.storages[a].bytes, bb = profile.storages[b].bytes;
    return ba != bb ? ba > bb : a < b;
  };
  if (picked.size() > maxBands) {
    std::nth_element(picked.begin(), picked.begin() + static_cast<std::ptrdiff_t>(maxBands), picked.end(),
                     larger);
    picked.resize(maxBands);
  }
  // Stacked in allocation order: a band only ever moves down, when one allocated before it is freed.
  std::sort(picked.begin(), picked.end(), [&](size_t a, size_t b) {
    const auto sa = profile.storages[a].allocSeq, sb = profile.storages[b].allocSeq;
    return sa != sb ? sa < sb : a < b;
  });
  return picked;
}

void addStep(std::vector<BandStep>& steps, size_t point, int64_t bottom) {
  if (steps.empty() || steps.back().bottom != bottom) steps.push_back({point, bottom});
}

}  // namespace

StorageBands storageBands(const Profile& profile, size_t maxBands, size_t maxPoints) {
  StorageBands out;
  const auto& tl = profile.timeline;
  out.pointCount = tl.size();
  if (tl.empty()) return out;
  std::vector<size_t> points = decimatedIndices(profile, maxPoints);
  for (size_t s : largestAllocatedInStep(profile, maxBands)) {
    const auto& st = profile.storages[s];
    StorageBand band;
    band.storage = s;
    band.firstPoint = timelinePointAt(profile, st.allocSeq);
    band.endPoint = st.freeSeq < 0 ? tl.size() : timelinePointAt(profile, st.freeSeq);
    if (band.firstPoint >= band.endPoint) continue;  // freed before any event showed it
    points.push_back(band.firstPoint);
    if (band.endPoint < tl.size()) points.push_back(band.endPoint);
    out.bands.push_back(std::move(band));
  }
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());
  for (size_t i : points) {
    int64_t drawn = 0;
    for (const auto& band : out.bands) {
      if (band.firstPoint <= i && i < band.endPoint) drawn += profile.storages[band.storage].bytes;
    }
    int64_t level = std::max<int64_t>(0, tl[i].total - drawn);
    addStep(out.others, i, level);
    for (auto& band : out.bands) {
      if (band.firstPoint > i || i >= band.endPoint) continue;
      addStep(band.steps, i, level);
      level += profile.storages[band.storage].bytes;
    }
  }
  return out;
}

int64_t bandBottomAt(const StorageBand& band, size_t point) {
  auto it = std::upper_bound(band.steps.begin(), band.steps.end(), point,
                             [](size_t p, const BandStep& s) { return p < s.point; });
  return it == band.steps.begin() ? 0 : std::prev(it)->bottom;
}

int storageBandAt(const StorageBands& bands, const Profile& profile, double point, double bytes) {
  if (point < 0) return -1;
  const auto p = static_cast<size_t>(point);
  for (size_t i = 0; i < bands.bands.size(); ++i) {
    const auto& band = bands.bands[i];
    if (p < band.firstPoint || p >= band.endPoint) continue;
    const auto bottom = static_cast<double>(bandBottomAt(band, p));
    if (bytes >= bottom && bytes < bottom + static_cast<double>(profile.storages[band.storage].bytes))
      return static_cast<int>(i);
  }
  return -1;
}

}  // namespace lowmem
