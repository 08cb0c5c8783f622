#include "core/peak_breakdown.h"

#include <algorithm>
#include <map>

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
    op[s.allocOp >= 0 ? t.opName(s.allocOp) : (s.allocSeq < 0 ? "(before the step)" : "(outside any op)")] +=
        s.bytes;
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

}  // namespace lowmem
