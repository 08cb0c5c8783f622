#pragma once
// A run as Chrome trace events (chrome://tracing, Perfetto): ops as complete events on one track per phase
// scope, and the memory timeline as counters (total and per category).

#include <nlohmann/json.hpp>

#include "core/session_store.h"

namespace lowmem {

nlohmann::json chromeTrace(const SessionRun& run);

}  // namespace lowmem
