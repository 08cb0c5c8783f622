#pragma once
// Each subcommand registers its options on the CLI11 app and runs through the libraries.

#include <CLI/CLI.hpp>

#include <functional>

namespace lowmem::cli {

// The action of the subcommand that was parsed; returns the process exit code.
using Action = std::function<int()>;

void addInfoCommand(CLI::App& app, Action& action);
void addModelsCommand(CLI::App& app, Action& action);
void addProfileCommands(CLI::App& app, Action& action);

}  // namespace lowmem::cli
