#pragma once
// `lowmem suggest` and the demo report: every site with its status, reason and predicted saving, and the
// predicted peak of the chosen set, as text, Markdown or JSON from the same numbers.

#include <nlohmann/json.hpp>
#include <ostream>

#include "core/profile_report.h"
#include "core/suggestions.h"

namespace lowmem {

void writeSuggestions(const Suggestions& s, ReportFormat format, std::ostream& out);
// The text report's lines under the site table: baseline and predicted peak (and where the peak is when the
// marked sites do not move it), the activation code width, the checkpointing alternative. The studio shows
// the same lines under its table.
void writeSuggestionSummary(const Suggestions& s, std::ostream& out);
nlohmann::json suggestionsJson(const Suggestions& s);

// "−27.4%": the change from `before` to `after`, signed, one decimal.
std::string percentChange(int64_t before, int64_t after);

}  // namespace lowmem
