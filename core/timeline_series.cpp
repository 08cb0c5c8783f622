#include "core/timeline_series.h"

#include <algorithm>
#include <utility>

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

double phaseAlignedX(const std::vector<PhaseMark>& phases, int64_t seq, int64_t endSeq) {
  if (phases.empty() || seq < phases.front().seq) return 0;
  for (size_t k = 0; k < phases.size(); ++k) {
    const int64_t begin = phases[k].seq;
    const int64_t end = k + 1 < phases.size() ? phases[k + 1].seq : std::max(endSeq, begin + 1);
    if (seq < end || k + 1 == phases.size()) {
      const double within =
          static_cast<double>(seq - begin) / static_cast<double>(std::max<int64_t>(1, end - begin));
      return static_cast<double>(k) + std::clamp(within, 0.0, 1.0);
    }
  }
  return static_cast<double>(phases.size());
}

std::vector<AlignedPoint> phaseAlignedTimeline(const Trace& trace, const Profile& p, size_t maxPoints) {
  std::vector<AlignedPoint> out;
  if (p.timeline.empty()) return out;
  const int64_t endSeq = p.timeline.back().seq + 1;
  for (size_t i : decimatedIndices(p, maxPoints))
    out.push_back({phaseAlignedX(trace.phases, p.timeline[i].seq, endSeq), p.timeline[i].total});
  return out;
}

std::vector<std::vector<size_t>> largestAliveAt(const Profile& p, const std::vector<int64_t>& seqs,
                                                size_t count) {
  const auto& storages = p.storages;
  std::vector<size_t> byAlloc(storages.size());
  for (size_t i = 0; i < storages.size(); ++i)
    byAlloc[i] = i;
  std::sort(byAlloc.begin(), byAlloc.end(),
            [&](size_t a, size_t b) { return storages[a].allocSeq < storages[b].allocSeq; });
  // A max-heap of the storages allocated so far, largest first (ties: lower index); freed ones leave it
  // lazily, when they reach the top.
  const auto below = [&](size_t a, size_t b) {
    return storages[a].bytes != storages[b].bytes ? storages[a].bytes < storages[b].bytes : a > b;
  };
  std::vector<size_t> heap;
  size_t nextAlloc = 0;
  std::vector<std::vector<size_t>> out;
  out.reserve(seqs.size());
  for (const int64_t seq : seqs) {
    for (; nextAlloc < byAlloc.size() && storages[byAlloc[nextAlloc]].allocSeq <= seq; ++nextAlloc) {
      heap.push_back(byAlloc[nextAlloc]);
      std::push_heap(heap.begin(), heap.end(), below);
    }
    // Take the `count` largest alive off the top, dropping the freed for good, then put the alive back.
    std::vector<size_t> largest;
    while (!heap.empty() && largest.size() < count) {
      const size_t top = heap.front();
      std::pop_heap(heap.begin(), heap.end(), below);
      heap.pop_back();
      if (storages[top].aliveAt(seq)) largest.push_back(top);
    }
    for (size_t i : largest) {
      heap.push_back(i);
      std::push_heap(heap.begin(), heap.end(), below);
    }
    out.push_back(std::move(largest));
  }
  return out;
}

size_t timelinePointAt(const Profile& profile, int64_t seq) {
  const auto& tl = profile.timeline;
  return static_cast<size_t>(std::lower_bound(tl.begin(), tl.end(), seq,
                                              [](const TimelinePoint& p, int64_t v) { return p.seq < v; }) -
                             tl.begin());
}

}  // namespace lowmem
