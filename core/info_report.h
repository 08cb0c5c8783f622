#pragma once
// `lowmem info` output: a readable text report and a JSON document with the same facts.

#include <nlohmann/json.hpp>
#include <ostream>

#include "core/model_summary.h"

namespace lowmem {

struct InfoReportOptions {
  int maxDepth = -1;  // module tree rows deeper than this are left out of the text (JSON keeps all); -1: all
};

void writeInfoText(const ModelSummary& summary, const InfoReportOptions& options, std::ostream& out);
nlohmann::json infoJson(const ModelSummary& summary);

}  // namespace lowmem
