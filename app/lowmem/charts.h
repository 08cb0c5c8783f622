#pragma once
// The CLI's PNG charts. A full build draws them with lowmem_ui's Qt charts (charts_qt.cpp); a headless build
// (-DLOWMEM_GUI=OFF, as on the GPU machine, which has no Qt) has none, and says so instead of drawing.

#include <string>

#include "core/plan_report.h"
#include "core/session_store.h"
#include "core/validation.h"

namespace lowmem::cli {

// False in a headless build: callers skip optional charts and refuse requested ones before any work.
bool chartsAvailable();

// Why a headless build draws nothing, for the user's one-line error or note.
inline constexpr const char* kNoChartsReason = "this lowmem was built without the GUI (LOWMEM_GUI=OFF)";

// Both throw lowmem::InputError naming `path`: when it cannot be written, or when charts are not available.
void saveComparisonPng(const SessionRun& baseline, const SessionRun& patched, const std::string& path);
void saveValidationPng(const Validation& v, const std::string& path);
void savePlanPng(const Plan& plan, const std::string& path);

}  // namespace lowmem::cli
