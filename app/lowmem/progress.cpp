// What `lowmem` shows while it works. On a terminal: one line rewritten in place, with the time since the
// command began and, for counted stages ("training step 57 of 200"), the percentage. Elsewhere (CI logs,
// pipes): a log line per stage, and per quarter of a counted stage, at info level, so -q keeps stderr to
// errors.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "app/lowmem/commands.h"
#include "core/progress_stage.h"

namespace lowmem::cli {
namespace {

struct ProgressState {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  bool terminal = ::isatty(STDERR_FILENO) != 0;
  std::string lastStage;
  int lastQuarter = -1;
};

}  // namespace

ProgressFn cliProgress() {
  auto state = std::make_shared<ProgressState>();
  return [state](const std::string& stage) {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - state->start).count();
    const auto counted = parseProgressStage(stage);
    char percent[16] = "";
    if (counted.total > 0) std::snprintf(percent, sizeof percent, " (%d%%)", counted.percent());
    if (state->terminal) {
      std::fprintf(stderr, "\r\033[Klowmem: %.1f s  %s%s...", elapsed, stage.c_str(), percent);
      std::fflush(stderr);
      return;
    }
    const int quarter = counted.total > 0 ? static_cast<int>(4 * counted.done / counted.total) : -1;
    if (counted.name == state->lastStage && quarter == state->lastQuarter) return;
    state->lastStage = counted.name;
    state->lastQuarter = quarter;
    spdlog::info("{:.1f} s: {}{}", elapsed, stage, percent);
  };
}

void endProgress() {
  if (::isatty(STDERR_FILENO)) std::cerr << "\r\033[K" << std::flush;
}

}  // namespace lowmem::cli
