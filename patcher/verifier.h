#pragma once
// Checks a patched model against the original on the same inputs before anything is saved: the forward
// outputs must agree within the dtype's tolerance (ReGELU2/ReSiLU2 forward is exact; folds change only
// rounding); the gradients of the trainable parameters are compared and reported (ReGELU2/ReSiLU2 backward is
// approximate by design, so gradients are reported, not gated).

#include <torch/script.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/trainable.h"
#include "core/verification.h"

namespace lowmem {

// How a module's forward is called: plainly (empty), or as the step calls it, inside its autocast scope.
using ForwardCall = std::function<c10::IValue(torch::jit::Module&, const std::vector<c10::IValue>&)>;

// Both modules are put in training mode with the same trainable selection; dropout draws the same masks (the
// RNG is seeded before each forward; lowmem::attention draws its dropout as aten::dropout does while this
// runs). The backward runs sum(output * R) with R fixed and random: any scalar
// probes the same vector-Jacobian products. `folded`: parameters whose values the patch changed.
Verification verifyPatch(torch::jit::Module& original, torch::jit::Module& patched,
                         const std::vector<c10::IValue>& inputs, const TrainableSelection& trainable,
                         const std::set<std::string>& folded, const ForwardCall& forward = {});

}  // namespace lowmem
