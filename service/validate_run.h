#pragma once
// `lowmem validate`: fine-tunes the original and the patched model side by side from identical weights and
// batches, over several seeds, measures both on held-out data on the way, and judges the patch by the
// patched - original difference against the seed-to-seed spread (core/validation.h).

#include <string>

#include "core/step_spec.h"
#include "core/suggestions.h"
#include "core/validation.h"
#include "service/profile_run.h"

namespace lowmem {

struct ValidateOptions {
  int steps = 200;
  int seeds = 3;          // runs from the same weights, each with its own batch order and dropout draws
  int heldOutPoints = 5;  // held-out measurements from step 0 to the last, evenly spaced
  int heldOutUnits = 0;   // held-out examples (sequences for token tasks); 0: the data's default, cut to
                          // what costs about as much as the training
  // Practical-equivalence margin on the held-out loss, relative to the original's (see Validation).
  double tolerance = 0.01;
  SwapSelection selection;  // the sites and activation bits of the patch validate makes
  // A model patched already (by `lowmem patch`, or by hand): trained against the original as it is.
  std::string patchedPath;
  // "" (the real data set the model takes: Fashion-MNIST for image classifiers, the byte corpus for token
  // models with 256 or more logits; else a synthetic task fitted to the model), "synthetic", "fashion-mnist",
  // "text" (a byte corpus), or a torch.save'd list or tuple of (input..., target) batches.
  std::string data;
  // Where to save the original model as the first seed's run left it (a checkpoint to fine-tune further:
  // pre-train the base here, then validate LoRA on it). Empty: nothing saved.
  std::string saveTrainedPath;
};

// Patches `modelPath` into a temporary folder (or takes options.patchedPath), then trains both models for
// options.steps steps per seed with the spec's optimizer, learning rate and seed (seed + k for the k-th run).
// Errors as patchModelFile; Error(kModelFailed) when a step fails or a loss is not finite.
Validation validateModel(const std::string& modelPath, const StepSpec& spec, const ValidateOptions& options,
                         const ProgressFn& progress = {});

}  // namespace lowmem
