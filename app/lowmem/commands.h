#pragma once
// Each subcommand registers its options on the CLI11 app and runs through the libraries.

#include <CLI/CLI.hpp>

#include <functional>

#include "service/profile_run.h"

namespace lowmem::cli {

// The action of the subcommand that was parsed; returns the process exit code.
using Action = std::function<int()>;

// Progress on stderr: a line rewritten in place on a terminal, with elapsed time and the percentage of
// counted stages; elsewhere an info log line per stage (-q silences it). stdout stays the report.
ProgressFn cliProgress();
void endProgress();

void addInfoCommand(CLI::App& app, Action& action);
void addModelsCommand(CLI::App& app, Action& action);
void addProfileCommands(CLI::App& app, Action& action);
void addPatchCommands(CLI::App& app, Action& action);
void addDemoCommand(CLI::App& app, Action& action);
void addValidateCommand(CLI::App& app, Action& action);
void addPlanCommand(CLI::App& app, Action& action);

}  // namespace lowmem::cli
