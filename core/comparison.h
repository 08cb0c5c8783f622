#pragma once
// `lowmem compare`: a patched run against its baseline, both measured under the same step spec: the peaks,
// what is alive at each peak by category, per-module activation deltas, the step time ratio, and each site's
// predicted saving beside the measured one.

#include <nlohmann/json.hpp>
#include <ostream>

#include "core/profile_report.h"
#include "core/session_store.h"
#include "core/swap_site.h"

namespace lowmem {

// `record`: what the patch stored (suggestions, rewrites, verification, timing; see docs/session-format.md).
nlohmann::json comparisonJson(const SessionRun& baseline, const SessionRun& patched,
                              const nlohmann::json& record);
void writeComparison(const nlohmann::json& comparison, ReportFormat format, std::ostream& out);

// Bytes released by the backward of the `occurrence`-th replacement op of `kind` (with `bits`) run in module
// `module` during forward (the storages whose holder joins to it or to an op it called).
int64_t bytesHeldBy(const Trace& trace, const Profile& profile, SiteKind kind, int bits,
                    const std::string& module, int occurrence);

}  // namespace lowmem
