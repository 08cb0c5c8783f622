#pragma once
// `lowmem profile` and the GUI's Profile action: load, build the step from the spec, trace, analyse.

#include <functional>
#include <string>

#include "core/session_store.h"
#include "core/step_spec.h"

namespace lowmem {

// The model's recorded input hint when spec.inputs is empty. Errors: InputError (bad model, spec or inputs,
// exit 2) and Error(kModelFailed) when the model fails while running (exit 3).
// `progress` (optional) hears each stage as it starts: "loading model", "warm-up and traced step", ...
using ProgressFn = std::function<void(const std::string& stage)>;
SessionRun profileModel(const std::string& modelPath, const StepSpec& spec, const std::string& label,
                        const ProgressFn& progress = {});

}  // namespace lowmem
