#pragma once
// A swap site's ops in a trace: its forward ops, the backward nodes autograd joined to them, and what those
// nodes made and freed again, which a replacement op with one backward kernel no longer makes.

#include <cstdint>
#include <set>
#include <vector>

#include "core/peak_prediction.h"
#include "core/profile.h"

namespace lowmem {

struct SiteSpan {
  std::set<int32_t> forward;
  int64_t forwardEnd = 0;
  std::set<int32_t> backwardNodes;
  std::vector<int32_t> backwardCalls;  // ATen ops the site's backward nodes ran
  int64_t backwardEnd = -1;
  // Where the site's backward frees what it made: its nodes and the evaluate_function ops around them, in
  // which autograd's engine drops a node's incoming gradient once the node has run (dP into softmax's
  // backward); `releasedBy`, the last of those ends.
  std::set<int32_t> releasingOps;
  int64_t releasedBy = -1;

  bool allocatedBySite(const Trace& t, const StorageLife& s) const {
    return s.allocOp >= 0 &&
           (forward.count(s.allocOp) || forward.count(t.ops[static_cast<size_t>(s.allocOp)].parent));
  }
  bool heldBySite(const StorageLife& s) const {
    return s.holderForwardOp >= 0 && forward.count(s.holderForwardOp);
  }
};

// `ops`: the site's forward ops (every op the site ran, for a site whose ops call others).
SiteSpan siteSpan(const Trace& t, const std::vector<int32_t>& ops);

// What the site's backward made and freed again (the gradients an HF RMSNorm chain passes between its own
// nodes, their intermediates): released where they were made.
void dropBackwardTemporaries(const Trace& t, const Profile& p, const SiteSpan& span, SiteEffect& e);

}  // namespace lowmem
