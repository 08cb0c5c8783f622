#pragma once
// `lowmem profile` summaries and `lowmem report`: a run's peak, categories, activation holders and modules,
// as text, Markdown or JSON from the same numbers.

#include <nlohmann/json.hpp>
#include <ostream>

#include "core/session_store.h"

namespace lowmem {

enum class ReportFormat { kText, kMarkdown };

void writeRunReport(const SessionRun& run, ReportFormat format, std::ostream& out);
nlohmann::json runReportJson(const SessionRun& run);

}  // namespace lowmem
