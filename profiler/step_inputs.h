#pragma once
// Example inputs for a traced step, drawn from input specs with a seed and checked against forward's schema.

#include <torch/script.h>

#include <string>
#include <vector>

#include "core/step_spec.h"

namespace lowmem {

// "float32" -> at::kFloat, for the dtype names InputSpec and StepSpec accept (anything else: bool).
c10::ScalarType scalarTypeOf(const std::string& dtype);

// Floating inputs ~ N(0, 1); integer inputs uniform in their range ([0, 2) when none is given).
// InputError when the count does not match forward's (the message shows the signature).
std::vector<c10::IValue> makeInputs(const torch::jit::Module& module, const std::vector<InputSpec>& specs,
                                    uint64_t seed);

}  // namespace lowmem
