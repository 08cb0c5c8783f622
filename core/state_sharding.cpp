#include "core/state_sharding.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace lowmem {

Trace shardedState(const Trace& trace, const Profile& profile, int ranks) {
  Trace t = trace;
  if (ranks <= 1) return t;
  const auto shard = [ranks](int64_t bytes) {
    const int64_t size = bytes < 0 ? -bytes : bytes;
    const int64_t part = std::max<int64_t>(1, (size + ranks - 1) / ranks);
    return bytes < 0 ? -part : part;
  };
  const auto sharded = [](Category c) {
    return c == Category::kParameter || c == Category::kGradient || c == Category::kOptimizerState;
  };
  std::unordered_map<int64_t, size_t> eventAtSeq;
  for (size_t i = 0; i < t.memory.size(); ++i)
    eventAtSeq.emplace(t.memory[i].seq, i);
  std::unordered_set<uint64_t> preexisting;
  for (const auto& s : profile.storages) {
    if (!sharded(s.category)) continue;
    for (int64_t seq : {s.allocSeq, s.freeSeq}) {
      const auto it = seq < 0 ? eventAtSeq.end() : eventAtSeq.find(seq);
      if (it != eventAtSeq.end()) t.memory[it->second].bytes = shard(t.memory[it->second].bytes);
    }
    if (s.allocSeq < 0) preexisting.insert(s.addr);
  }
  for (auto& k : t.known) {
    const bool state = k.role == KnownRole::kParameter || k.role == KnownRole::kGradient ||
                       k.role == KnownRole::kOptimizerState;
    if (state && (!k.preexisting || preexisting.count(k.addr))) k.bytes = shard(k.bytes);
  }
  return t;
}

}  // namespace lowmem
