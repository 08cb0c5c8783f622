#include "core/peak_prediction.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

namespace lowmem {
namespace {

// Forward ops of the site: the op itself for activations (the occurrence-th of that name in the module),
// every op the norm module ran for norms.
std::vector<int32_t> siteOps(const Trace& t, const SitePlan& plan, int occurrence) {
  const bool norm = isNormKind(plan.site.kind);
  const char* name = plan.site.kind == SiteKind::kSilu ? "aten::silu" : "aten::gelu";
  std::vector<int32_t> ops;
  int seen = 0;
  for (size_t i = 0; i < t.ops.size(); ++i) {
    const auto& op = t.ops[i];
    if (op.phase != Phase::kForward || op.scope != OpScope::kFunction ||
        t.str(op.module) != plan.site.modulePath)
      continue;
    if (norm) {
      ops.push_back(static_cast<int32_t>(i));
    } else if (t.str(op.name) == name) {
      if (seen++ == occurrence) return {static_cast<int32_t>(i)};
    }
  }
  return norm ? ops : std::vector<int32_t>{};
}

}  // namespace

SiteEffect siteEffect(const Trace& t, const Profile& p, const SitePlan& plan, int occurrence,
                      int elementBytes) {
  SiteEffect e;
  const auto ops = siteOps(t, plan, occurrence);
  if (ops.empty()) {
    e.note = "no matching op of " +
             (plan.site.modulePath.empty() ? std::string("the root") : plan.site.modulePath) +
             " in the trace";
    return e;
  }
  e.found = true;
  const std::set<int32_t> opSet(ops.begin(), ops.end());
  int64_t forwardEnd = 0;
  std::set<int64_t> seqNrs;
  for (auto i : ops) {
    forwardEnd = std::max(forwardEnd, t.ops[static_cast<size_t>(i)].endSeq);
    if (t.ops[static_cast<size_t>(i)].seqNr >= 0) seqNrs.insert(t.ops[static_cast<size_t>(i)].seqNr);
  }
  // The site's backward: nodes joined to its forward ops by autograd sequence number.
  int64_t backwardEnd = -1;
  for (const auto& op : t.ops) {
    if (op.scope == OpScope::kBackward && seqNrs.count(op.seqNr))
      backwardEnd = std::max(backwardEnd, op.endSeq);
  }
  if (backwardEnd < 0) {
    e.note = "its input needs no gradient: no backward node keeps anything";
    return e;
  }
  // Storages the site's backward is the last to release, and the site's output.
  const bool norm = isNormKind(plan.site.kind);
  int64_t outputBytes = 0;
  for (size_t i = 0; i < p.storages.size(); ++i) {
    const auto& s = p.storages[i];
    const bool heldBySite = s.holderForwardOp >= 0 && opSet.count(s.holderForwardOp);
    if (heldBySite) {
      e.newFree.emplace_back(i, std::max(forwardEnd, s.allocSeq + 1));
      e.releasedBytes += s.bytes;
      continue;
    }
    const bool fromSite = s.allocOp >= 0 && (opSet.count(s.allocOp) ||
                                             opSet.count(t.ops[static_cast<size_t>(s.allocOp)].parent));
    if (!fromSite || !s.aliveAt(forwardEnd)) continue;
    // The site's output: alive after its forward ends.
    outputBytes = std::max(outputBytes, s.bytes);
    if (norm && s.freeSeq >= 0 && s.freeSeq < backwardEnd) {
      // MS-norms save their output: it now lives until the norm's backward. Counted as added only when no
      // consumer kept it for backward already (no sharing).
      e.newFree.emplace_back(i, backwardEnd);
      if (s.aliveAt(p.backwardStartSeq)) {
        e.sharedOutputBytes += s.bytes;
      } else {
        e.addedBytes += s.bytes;
      }
    }
  }
  if (norm && e.releasedBytes == 0) {
    // Nothing is saved for this norm's backward (its input and affine need no gradient): the MS-norm would
    // save nothing either.
    e = SiteEffect{};
    e.found = true;
    e.note = "its backward keeps nothing (its input and affine need no gradient)";
    return e;
  }
  if (outputBytes == 0) {
    e.found = false;
    e.note = "its output was not found in the trace";
    return e;
  }
  const int64_t n = outputBytes / std::max(1, elementBytes);
  const int64_t extra = norm ? 4 * (n / std::max<int64_t>(1, plan.normalizedSize)) : (n * plan.bits + 7) / 8;
  e.added.push_back({extra, forwardEnd, backwardEnd});
  e.addedBytes += extra;
  return e;
}

int64_t predictedPeak(const Profile& p, const std::vector<const SiteEffect*>& effects) {
  std::unordered_map<size_t, int64_t> newFree;
  for (const auto* e : effects) {
    for (const auto& [i, seq] : e->newFree) {
      auto it = newFree.find(i);
      // Two sites changing one storage: a release wins over an extension only if both release.
      newFree[i] = it == newFree.end() ? seq : std::max(it->second, seq);
    }
  }
  std::vector<std::pair<int64_t, int64_t>> deltas;  // seq, bytes
  int64_t total = 0;
  for (size_t i = 0; i < p.storages.size(); ++i) {
    const auto& s = p.storages[i];
    int64_t freeSeq = s.freeSeq;
    if (auto it = newFree.find(i); it != newFree.end()) freeSeq = it->second;
    if (s.allocSeq < 0) {
      total += s.bytes;
    } else {
      deltas.emplace_back(s.allocSeq, s.bytes);
    }
    if (freeSeq >= 0) deltas.emplace_back(freeSeq, -s.bytes);
  }
  for (const auto* e : effects) {
    for (const auto& a : e->added) {
      deltas.emplace_back(a.allocSeq, a.bytes);
      if (a.freeSeq >= 0) deltas.emplace_back(a.freeSeq, -a.bytes);
    }
  }
  // At one sequence number, frees go first (an op's end releases before anything later allocates).
  std::sort(deltas.begin(), deltas.end(), [](const auto& a, const auto& b) {
    return a.first < b.first || (a.first == b.first && a.second < b.second);
  });
  int64_t peak = total;
  for (const auto& [seq, bytes] : deltas) {
    total += bytes;
    peak = std::max(peak, total);
  }
  return peak;
}

}  // namespace lowmem
