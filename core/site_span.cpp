#include "core/site_span.h"

#include <algorithm>

namespace lowmem {

SiteSpan siteSpan(const Trace& t, const std::vector<int32_t>& ops) {
  SiteSpan span;
  span.forward.insert(ops.begin(), ops.end());
  std::set<int64_t> seqNrs;
  for (auto i : ops) {
    span.forwardEnd = std::max(span.forwardEnd, t.ops[static_cast<size_t>(i)].endSeq);
    if (t.ops[static_cast<size_t>(i)].seqNr >= 0) seqNrs.insert(t.ops[static_cast<size_t>(i)].seqNr);
  }
  for (size_t i = 0; i < t.ops.size(); ++i) {
    const auto& op = t.ops[i];
    if (op.scope == OpScope::kBackward && seqNrs.count(op.seqNr)) {
      span.backwardEnd = std::max(span.backwardEnd, op.endSeq);
      span.backwardNodes.insert(static_cast<int32_t>(i));
      span.releasingOps.insert(static_cast<int32_t>(i));
      if (op.parent >= 0) {
        span.releasingOps.insert(op.parent);
        span.releasedBy = std::max(span.releasedBy, t.ops[static_cast<size_t>(op.parent)].endSeq);
      }
    } else if (op.parent >= 0 && span.backwardNodes.count(op.parent)) {
      span.backwardCalls.push_back(static_cast<int32_t>(i));
    }
  }
  span.releasedBy = std::max(span.releasedBy, span.backwardEnd);
  return span;
}

void dropBackwardTemporaries(const Trace& t, const Profile& p, const SiteSpan& span, SiteEffect& e) {
  for (size_t i = 0; i < p.storages.size(); ++i) {
    const auto& s = p.storages[i];
    if (s.allocOp < 0 || s.freeSeq < 0 || s.freeSeq > span.backwardEnd) continue;
    if (t.enclosing(s.allocOp, [&](int32_t at) { return span.backwardNodes.count(at) > 0; }) >= 0)
      e.newFree.emplace_back(i, s.allocSeq);
  }
}

}  // namespace lowmem
