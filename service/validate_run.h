#pragma once
// `lowmem validate`: fine-tunes the original and the patched model side by side from identical weights, data
// and seeds on a deterministic synthetic task that fits the model's output, and judges the patch by the ratio
// of their final-window mean losses.

#include <string>
#include <vector>

#include "core/step_spec.h"
#include "service/profile_run.h"

namespace lowmem {

struct ValidationStep {
  double baselineLoss = 0;
  double patchedLoss = 0;
  double gradientCosine = 0;    // trainable gradients of both models, concatenated
  double weightDivergence = 0;  // |w_patched - w_baseline| / |w_baseline| over parameters no fold changed
};

struct Validation {
  std::string task;  // "classification (...)", "next-token prediction (...)", "regression (...)"
  std::vector<ValidationStep> steps;
  int window = 0;                // final steps averaged for the verdict
  double lossRatio = 0;          // mean patched / mean baseline loss over the final window
  double tolerance = 0;          // the verdict passes when |lossRatio - 1| <= tolerance
  bool baselineLearned = false;  // the baseline's final-window loss is below its first-window loss
  bool patchedLearned = false;
  bool passed = false;
  std::vector<std::string> rewrites;
};

// Patches `modelPath` (all chosen sites, into a temporary file beside nothing of the user's), then trains
// both models for `steps` steps with the spec's optimizer and learning rate. Errors as patchModelFile.
Validation validateModel(const std::string& modelPath, const StepSpec& spec, int steps, double tolerance,
                         const ProgressFn& progress = {});

}  // namespace lowmem
