#pragma once
// What `lowmem plan` found, as data, text and JSON: the fit, the predicted peaks before and after the swaps
// at each size asked for, and the largest batch a budget allows.

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/size_fit.h"

namespace lowmem {

// A traced size: its measured peak and the fit's peak there (the fit checked against what it was fitted on).
struct PlanTraced {
  StepSize size;
  int64_t measuredPeak = 0;
  int64_t fittedPeak = 0;
};

struct PlanPoint {
  StepSize size;
  int64_t baselinePeak = 0;
  int64_t patchedPeak = 0;    // with the suggested swaps
  int64_t residentBytes = 0;  // alive before the step
  std::string peakAt;         // when the baseline's peak happens
};

// The largest batch (or, when only the sequence was fitted, sequence length) whose predicted peak is within
// the budget, the other dimension held at `at`; 0 when none fits.
// The search stops here: a step whose peak stays under the budget at this size does not grow with it enough
// for the budget to bind.
inline constexpr int64_t kPlanSearchLimit = int64_t{1} << 20;

struct PlanCapacity {
  bool alongSeq = false;
  int64_t at = 0;  // the sequence length (0: none) for a batch, the batch for a sequence length
  int64_t baseline = 0;
  int64_t patched = 0;
};

struct Plan {
  std::string modelPath;
  std::vector<std::string> terms;
  int64_t worstResidualBytes = 0;
  std::vector<PlanTraced> traced;
  std::vector<PlanPoint> points;
  std::vector<PlanPoint> curve;  // peaks from batch 1 past the sizes asked (and the budget's), for the chart
  int64_t budgetBytes = 0;
  int shard = 1;
  std::vector<PlanCapacity> capacity;  // with a budget
  int chosenSites = 0;
  std::vector<std::string> assumptions;
};

nlohmann::json planJson(const Plan& plan);
// A stored record back (InputError naming `path` for a record that is not one).
Plan planFromJson(const nlohmann::json& j, const std::string& path);
void writePlanText(const Plan& plan, std::ostream& out);

}  // namespace lowmem
