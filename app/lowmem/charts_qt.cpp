// The CLI's PNG charts in a full build: lowmem_ui's, rendered offscreen.

#include "app/lowmem/charts.h"
#include "ui/comparison_chart.h"
#include "ui/plan_chart.h"
#include "ui/validation_chart.h"

namespace lowmem::cli {

bool chartsAvailable() {
  return true;
}

void saveComparisonPng(const SessionRun& baseline, const SessionRun& patched, const std::string& path) {
  ui::saveComparisonPng(baseline, patched, path);
}

void saveValidationPng(const Validation& v, const std::string& path) {
  ui::saveValidationPng(v, path);
}

void savePlanPng(const Plan& plan, const std::string& path) {
  ui::savePlanPng(plan, path);
}

}  // namespace lowmem::cli
