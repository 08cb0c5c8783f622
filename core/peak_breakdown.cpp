#include "core/peak_breakdown.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

namespace lowmem {

void sortRows(ByteRows& rows, size_t limit) {
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  });
  if (limit > 0 && rows.size() > limit) rows.resize(limit);
}

PeakBreakdown peakBreakdown(const Trace& t, const Profile& p) {
  std::map<std::string, int64_t> category, module, op;
  for (size_t i : p.aliveAt(p.peak().seq)) {
    const auto& s = p.storages[i];
    const std::string cat = categoryName(s.category);
    category[cat] += s.bytes;
    module[s.module ? t.str(s.module) : "(" + cat + ")"] += s.bytes;
    const int32_t asker = requestingOp(t, s.allocOp);
    op[asker >= 0 ? t.opName(asker) : (s.allocSeq < 0 ? "(before the step)" : "(outside any op)")] += s.bytes;
  }
  PeakBreakdown b;
  b.byCategory.assign(category.begin(), category.end());
  b.byModule.assign(module.begin(), module.end());
  b.byOp.assign(op.begin(), op.end());
  sortRows(b.byCategory);
  sortRows(b.byModule);
  sortRows(b.byOp);
  return b;
}

int32_t requestingOp(const Trace& t, int32_t op) {
  int32_t at = op;
  while (at >= 0 && isAllocationHelper(t.opName(at))) {
    const int32_t parent = t.ops[static_cast<size_t>(at)].parent;
    // Called by the model's own code (no enclosing ATen op or autograd node): the helper is the asker.
    if (parent < 0 || t.ops[static_cast<size_t>(parent)].scope == OpScope::kTorchScript) return at;
    at = parent;
  }
  return at;
}

namespace {

// The innermost autograd node around `op`, or -1.
int32_t enclosingBackwardNode(const Trace& t, int32_t op) {
  for (int32_t at = op; at >= 0; at = t.ops[static_cast<size_t>(at)].parent) {
    if (t.ops[static_cast<size_t>(at)].scope == OpScope::kBackward) return at;
  }
  return -1;
}

// The forward op an autograd node belongs to (same autograd sequence number), or -1.
int32_t forwardOpOf(const Trace& t, int32_t node) {
  const int64_t seqNr = t.ops[static_cast<size_t>(node)].seqNr;
  if (seqNr < 0) return -1;
  for (size_t i = 0; i < t.ops.size(); ++i) {
    const auto& o = t.ops[i];
    if (o.seqNr == seqNr && o.scope == OpScope::kFunction && o.phase != Phase::kBackward)
      return static_cast<int32_t>(i);
  }
  return -1;
}

std::string moduleOf(const Trace& t, int32_t op) {
  for (int32_t at = op; at >= 0; at = t.ops[static_cast<size_t>(at)].parent) {
    if (t.ops[static_cast<size_t>(at)].module) return t.str(t.ops[static_cast<size_t>(at)].module);
  }
  return {};
}

}  // namespace

PeakMoment peakMoment(const Trace& t, const Profile& p) {
  PeakMoment m;
  if (p.peakPoint == 0 || p.peakPoint > t.memory.size()) return m;  // the state before the first event
  const auto& event = t.memory[p.peakPoint - 1];
  const int64_t start = t.phases.empty() ? t.memory.front().timeNs : t.phases.front().timeNs;
  m.secondsIntoStep = static_cast<double>(event.timeNs - start) / 1e9;
  m.phase = Phase::kBefore;
  for (const auto& mark : t.phases) {
    if (mark.seq <= event.seq) m.phase = mark.phase;
  }
  const int32_t op = requestingOp(t, event.op);
  if (op < 0) return m;
  m.op = t.opName(op);
  m.module = moduleOf(t, op);
  const int32_t node = enclosingBackwardNode(t, op);
  if (node >= 0) {
    m.backwardNode = t.opName(node);
    const int32_t forward = forwardOpOf(t, node);
    if (m.module.empty() && forward >= 0) m.module = moduleOf(t, forward);
  }
  return m;
}

std::string peakMomentText(const PeakMoment& m, bool withTime) {
  if (m.op.empty() && m.phase == Phase::kBefore) return "before the step (what it starts with)";
  std::string text = std::string(phaseName(m.phase)) + ": ";
  text += m.op.empty() ? "outside any op" : m.op;
  if (!m.module.empty()) text += " in " + m.module;
  if (!m.backwardNode.empty()) text += " (" + m.backwardNode + ")";
  if (!withTime) return text;
  char secs[48];
  std::snprintf(secs, sizeof secs, ", %.3f s into the step", m.secondsIntoStep);
  return text + secs;
}

}  // namespace lowmem
