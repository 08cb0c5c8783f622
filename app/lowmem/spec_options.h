#pragma once
// The step-spec flags shared by profile, suggest, patch and demo: one place defines them and resolves them
// (a --spec JSON file first, flags beside it on top).

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "core/output_guard.h"
#include "core/step_spec.h"

namespace lowmem::cli {

struct SpecArgs {
  std::string specFile;
  std::vector<std::string> inputs;
  StepSpec spec;  // the options' values (their defaults where not given)
  struct Overlay {
    const CLI::Option* option;
    std::function<void(const StepSpec& from, StepSpec& to)> set;
  };
  std::vector<Overlay> overlays;  // one per spec field option, for laying the given ones over --spec
};

void addSpecOptions(CLI::App* cmd, SpecArgs& args);

// The flag that sets a setting (a step-spec field by its JSON key, "only", "bits", ...): how the CLI names a
// SettingError. The setting itself when no flag sets it.
const std::string& flagOf(const std::string& setting);

// The files a resolved spec reads (the --spec file, its inputs file), for the output guard.
std::vector<NamedPath> specInputs(const SpecArgs& args, const StepSpec& spec);

// --bits for the activation swaps (checked by SwapSelection::validate, so the error names the flag).
void addBitsOption(CLI::App* cmd, int& bits);

// The spec the flags describe; SettingError (or InputError naming the file) otherwise.
StepSpec resolveSpec(const SpecArgs& args);

}  // namespace lowmem::cli
