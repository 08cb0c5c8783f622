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

namespace lowmem {

struct GradientCheck {
  std::string parameter;
  double cosine = 0;    // cosine similarity of the flattened gradients
  double relError = 0;  // |g_patched - g_original| / |g_original|
  std::string note;     // "reparameterised by a fold" / "no gradient in the patched model"
};

struct Verification {
  bool forwardOk = false;
  double maxAbsDiff = 0;
  double maxAbsOutput = 0;
  double tolerance = 0;       // the bound maxAbsDiff was held to
  std::string toleranceRule;  // how `tolerance` was set, for the report
  std::vector<GradientCheck> gradients;
  double minCosine = 1;  // over parameters compared directly (not reparameterised)
  // Every directly compared gradient concatenated: the direction the optimizer step takes, as a whole.
  double overallCosine = 1;
  // The parameter with the lowest cosine, and its original gradient's norm relative to the largest one's: a
  // low cosine on a gradient a thousand times smaller than the rest moves almost nothing.
  std::string worstParameter;
  double worstCosine = 1;
  double worstRelativeNorm = 0;
};

// How a module's forward is called: plainly (empty), or as the step calls it, inside its autocast scope.
using ForwardCall = std::function<c10::IValue(torch::jit::Module&, const std::vector<c10::IValue>&)>;

// Both modules are put in training mode with the same trainable selection; dropout draws the same masks (the
// RNG is seeded before each forward). The backward runs sum(output * R) with R fixed and random: any scalar
// probes the same vector-Jacobian products. `folded`: parameters whose values the patch changed.
Verification verifyPatch(torch::jit::Module& original, torch::jit::Module& patched,
                         const std::vector<c10::IValue>& inputs, const TrainableSelection& trainable,
                         const std::set<std::string>& folded, const ForwardCall& forward = {});

}  // namespace lowmem
