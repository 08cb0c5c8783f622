#include "core/storage_tensors.h"

#include <algorithm>
#include <unordered_map>

namespace lowmem {

std::vector<int32_t> storageTensors(const Trace& trace, const Profile& profile) {
  std::vector<int32_t> out(profile.storages.size(), -1);
  if (trace.outputs.empty()) return out;
  // Each address's outputs in the order their ops ended (ties: recording order).
  std::unordered_map<uint64_t, std::vector<int32_t>> byAddr;
  for (size_t i = 0; i < trace.outputs.size(); ++i)
    byAddr[trace.outputs[i].addr].push_back(static_cast<int32_t>(i));
  const auto endOf = [&](int32_t output) {
    return trace.ops[static_cast<size_t>(trace.outputs[static_cast<size_t>(output)].op)].endSeq;
  };
  for (auto& [addr, list] : byAddr) {
    std::stable_sort(list.begin(), list.end(), [&](int32_t a, int32_t b) { return endOf(a) < endOf(b); });
  }
  for (size_t s = 0; s < profile.storages.size(); ++s) {
    const auto& st = profile.storages[s];
    const auto it = byAddr.find(st.addr);
    if (it == byAddr.end()) continue;
    const auto& list = it->second;
    const auto first = std::lower_bound(list.begin(), list.end(), st.allocSeq,
                                        [&](int32_t output, int64_t seq) { return endOf(output) < seq; });
    if (first != list.end() && (st.freeSeq < 0 || endOf(*first) < st.freeSeq)) out[s] = *first;
  }
  return out;
}

std::string tensorText(const Trace& trace, int32_t output) {
  if (output < 0) return {};
  const auto& o = trace.outputs[static_cast<size_t>(output)];
  return trace.str(o.shape) + " " + trace.str(o.dtype);
}

}  // namespace lowmem
