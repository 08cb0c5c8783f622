#pragma once
// `lowmem validate`: fine-tunes the original and the patched model side by side from identical weights, data
// and seeds on a deterministic synthetic task that fits the model's output, and judges the patch by the ratio
// of their final-window mean losses.

#include <string>

#include "core/step_spec.h"
#include "core/suggestions.h"
#include "core/validation.h"
#include "service/profile_run.h"

namespace lowmem {

struct ValidateOptions {
  int steps = 200;
  double tolerance = 0.02;
  SwapSelection selection;  // the sites and activation bits of the patch validate makes
  // A model patched already (by `lowmem patch`, or by hand): trained against the original as it is.
  std::string patchedPath;
  // Batches to train on instead of the synthetic task: a torch.save'd list or tuple of (input..., target).
  std::string dataPath;
};

// Patches `modelPath` into a temporary folder (or takes options.patchedPath), then trains both models for
// options.steps steps with the spec's optimizer, learning rate and seed. Errors as patchModelFile;
// Error(kModelFailed) when a step fails or a loss is not finite.
Validation validateModel(const std::string& modelPath, const StepSpec& spec, const ValidateOptions& options,
                         const ProgressFn& progress = {});

}  // namespace lowmem
