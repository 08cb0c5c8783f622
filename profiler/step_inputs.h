#pragma once
// Example inputs for a traced step, drawn from input specs with a seed and checked against forward's schema.

#include <torch/script.h>

#include <string>
#include <vector>

#include "core/step_spec.h"

namespace lowmem {

// Floating inputs ~ N(0, 1); integer inputs uniform in their range ([0, 2) when none is given).
// SettingError("inputs") when the count does not match forward's (the message shows the signature).
std::vector<c10::IValue> makeInputs(const torch::jit::Module& module, const std::vector<InputSpec>& specs,
                                    uint64_t seed);

}  // namespace lowmem
