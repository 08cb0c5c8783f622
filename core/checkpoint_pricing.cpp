#include "core/checkpoint_pricing.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "core/module_path.h"

namespace lowmem {
namespace {

// "layer_3" -> "layer_", "3" -> ""; nullopt-like false when the component carries no index.
bool indexedStem(const std::string& component, std::string& stem) {
  size_t i = component.size();
  while (i > 0 && std::isdigit(static_cast<unsigned char>(component[i - 1])))
    --i;
  if (i == component.size()) return false;
  stem = component.substr(0, i);
  return true;
}

struct Level {
  int depth = 0;
  int64_t bytes = 0;
  std::set<std::string> blocks;
};

// Candidate levels: "prefix.stem*" for every indexed component on the module path of an activation alive
// at the peak.
std::map<std::string, Level> candidateLevels(const Trace& trace, const Profile& profile,
                                             const std::vector<size_t>& atPeak) {
  std::map<std::string, Level> levels;
  for (size_t i : atPeak) {
    const auto parts = pathComponents(trace.str(profile.storages[i].module));
    std::string prefix;
    for (size_t d = 0; d < parts.size(); ++d) {
      std::string stem;
      const std::string block = prefix.empty() ? parts[d] : prefix + "." + parts[d];
      if (!parts[d].empty() && indexedStem(parts[d], stem)) {
        auto& level = levels[(prefix.empty() ? "" : prefix + ".") + stem + "*"];
        level.depth = static_cast<int>(d);
        level.bytes += profile.storages[i].bytes;
        level.blocks.insert(block);
      }
      prefix = block;
    }
  }
  return levels;
}

// The level with siblings holding the most (the shallowest on a tie), or null.
const std::pair<const std::string, Level>* bestLevel(const std::map<std::string, Level>& levels) {
  const std::pair<const std::string, Level>* best = nullptr;
  for (const auto& entry : levels) {
    if (entry.second.blocks.size() < 2) continue;
    if (!best || entry.second.bytes > best->second.bytes ||
        (entry.second.bytes == best->second.bytes && entry.second.depth < best->second.depth))
      best = &entry;
  }
  return best;
}

// One block checkpointed: what it drops at the peak, what it keeps (its output, the last storage its forward
// allocated), its forward time; `begin` is its first forward op, for the order.
BlockCheckpoint priceBlock(const Trace& trace, const Profile& profile, const std::vector<size_t>& atPeak,
                           const std::string& block, int64_t& begin) {
  BlockCheckpoint b;
  b.module = block;
  size_t output = profile.storages.size();
  for (size_t i = 0; i < profile.storages.size(); ++i) {
    const auto& s = profile.storages[i];
    if (s.allocPhase != Phase::kForward || !isWithin(trace.str(s.module), block)) continue;
    if (output == profile.storages.size() || s.allocSeq > profile.storages[output].allocSeq) output = i;
  }
  for (size_t i : atPeak) {
    const auto& s = profile.storages[i];
    if (!isWithin(trace.str(s.module), block)) continue;
    b.activationBytes += s.bytes;
    if (i == output) b.keptBytes = s.bytes;
  }
  begin = -1;
  int64_t end = -1;
  for (const auto& op : trace.ops) {
    if (op.phase != Phase::kForward || !isWithin(trace.str(op.module), block)) continue;
    begin = begin < 0 ? op.beginNs : std::min(begin, op.beginNs);
    end = std::max(end, op.endNs);
  }
  b.forwardSeconds = begin >= 0 && end > begin ? static_cast<double>(end - begin) * 1e-9 : 0;
  return b;
}

double stepSeconds(const Trace& trace) {
  int64_t stepBegin = -1, stepEnd = -1;
  for (const auto& m : trace.phases) {
    if (m.phase == Phase::kForward && stepBegin < 0) stepBegin = m.timeNs;
    if (m.phase == Phase::kAfter) stepEnd = m.timeNs;
  }
  return stepBegin >= 0 && stepEnd > stepBegin ? static_cast<double>(stepEnd - stepBegin) * 1e-9 : 0;
}

}  // namespace

CheckpointPricing priceCheckpointing(const Trace& trace, const Profile& profile) {
  CheckpointPricing out;
  out.baselinePeak = profile.peak().total;
  out.stepSeconds = stepSeconds(trace);
  std::vector<size_t> atPeak;
  for (size_t i = 0; i < profile.storages.size(); ++i) {
    const auto& s = profile.storages[i];
    if (s.category == Category::kActivation && s.aliveAt(profile.peak().seq)) atPeak.push_back(i);
  }
  const auto levels = candidateLevels(trace, profile, atPeak);
  const auto* best = bestLevel(levels);
  if (!best) {
    out.why =
        "no repeated module (a path component ending in an index, with siblings) holds activations at "
        "the peak";
    return out;
  }
  out.found = true;
  out.level = best->first;
  std::vector<std::pair<int64_t, BlockCheckpoint>> byStart;
  for (const auto& block : best->second.blocks) {
    int64_t begin = -1;
    auto b = priceBlock(trace, profile, atPeak, block, begin);
    byStart.emplace_back(begin, std::move(b));
  }
  // Forward order (the set sorts "layer_10" before "layer_2").
  std::sort(byStart.begin(), byStart.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& entry : byStart)
    out.blocks.push_back(std::move(entry.second));
  for (const auto& b : out.blocks) {
    const int64_t dropped = b.activationBytes - b.keptBytes;
    out.droppedBytes += dropped;
    out.rematerialisedBytes = std::max(out.rematerialisedBytes, dropped);
    out.recomputeSeconds += b.forwardSeconds;
  }
  out.predictedPeak = out.baselinePeak - out.droppedBytes + out.rematerialisedBytes;
  return out;
}

}  // namespace lowmem
