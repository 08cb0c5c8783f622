#include "core/model_summary.h"

namespace lowmem {

std::map<SiteKind, int> ModelSummary::siteCounts() const {
  std::map<SiteKind, int> counts;
  for (SiteKind k : allSiteKinds())
    counts[k] = 0;
  for (const auto& s : sites)
    ++counts[s.kind];
  return counts;
}

}  // namespace lowmem
