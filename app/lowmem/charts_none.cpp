// The CLI's PNG charts in a headless build: none.

#include "app/lowmem/charts.h"
#include "core/error.h"

namespace lowmem::cli {

bool chartsAvailable() {
  return false;
}

void saveComparisonPng(const SessionRun&, const SessionRun&, const std::string& path) {
  throw InputError(path, std::string("cannot draw a PNG: ") + kNoChartsReason);
}

void saveValidationPng(const Validation&, const std::string& path) {
  throw InputError(path, std::string("cannot draw a PNG: ") + kNoChartsReason);
}

void savePlanPng(const Plan&, const std::string& path) {
  throw InputError(path, std::string("cannot draw a PNG: ") + kNoChartsReason);
}

}  // namespace lowmem::cli
