#pragma once
// The record of `lowmem validate`: the original and the patched model fine-tuned side by side from identical
// weights and batches, over several seeds, measured on held-out data, and the verdict drawn from it. Plain
// data so the session store, reports and the studio share it.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "core/applied_rewrite.h"

namespace lowmem {

// One training step of the first seed's run (the training curves).
struct ValidationStep {
  double baselineLoss = 0;
  double patchedLoss = 0;
  double gradientCosine = 0;    // trainable gradients of both models, concatenated
  double weightDivergence = 0;  // |w_patched - w_baseline| / |w_baseline| over parameters no fold changed
};

// Both models measured on the held-out set after `step` training steps (0: before training).
struct HeldOutPoint {
  int step = 0;
  double baselineLoss = 0;
  double patchedLoss = 0;
  double baselineAccuracy = -1;  // share of held-out examples classified right; -1 when the task has none
  double patchedAccuracy = -1;
};

// One seed's run: the seed orders the training batches and draws dropout; the weights start identical.
struct SeedRun {
  uint64_t seed = 0;
  std::vector<HeldOutPoint> heldOut;  // from step 0 to the last step
  // The original's final held-out loss is a mean over `units` examples (images, or sequences for token
  // tasks); its standard error is their standard deviation / sqrt(units).
  double lossStandardError = 0;
  int units = 0;
};

enum class ValidationOutcome { kPass, kFail, kInconclusive };
const char* outcomeName(ValidationOutcome o);

// One held-out measure (loss or accuracy) at the last step, patched against original, set against the noise:
// `within` when |meanDifference| <= allowed = max(2 x the original's standard deviation across seeds, floor).
struct NoiseComparison {
  double baselineMean = 0, baselineStd = 0;
  double patchedMean = 0, patchedStd = 0;
  double meanDifference = 0;  // patched - original, paired by seed
  double seedSpread = 0;      // 2 x baselineStd (0 with one seed)
  double floor = 0;           // 2 x the held-out set's standard error (loss: or the --tolerance margin)
  double allowed = 0;
  bool within = false;
};

struct Validation {
  std::string modelPath;
  std::string task;  // "classification: ...", "next-token prediction: ...", "Fashion-MNIST ...", ...
  int bits = 2;      // of the activation swaps
  std::vector<AppliedRewrite> rewrites;
  std::vector<ValidationStep> steps;  // the first seed's
  std::vector<SeedRun> seeds;         // empty in records written before held-out measurement
  // A margin of practical equivalence on the held-out loss, relative to the original's: differences below
  // tolerance x its mean pass whatever the noise.
  double tolerance = 0;
  // Filled by judge():
  int window = 0;                // final training steps averaged for the training-loss ratio
  double lossRatio = 0;          // mean patched / mean original training loss over that window (first seed)
  bool baselineLearned = false;  // held-out loss fell by more than its floor (training loss in old records)
  bool patchedLearned = false;
  NoiseComparison heldOutLoss;
  NoiseComparison heldOutAccuracy;  // classification only
  bool classifies = false;
  ValidationOutcome outcome = ValidationOutcome::kFail;
  bool passed = false;  // outcome == kPass
};

// The verdict. With held-out runs: inconclusive when the original did not learn (its mean held-out loss fell
// by no more than the floor), fail when the patched model did not learn or a held-out measure differs by
// more than the noise allows, pass otherwise. Records without them (older sessions) keep the training-loss
// verdict: both learned and |lossRatio - 1| <= tolerance.
void judge(Validation& v);

double meanGradientCosine(const Validation& v);
double minGradientCosine(const Validation& v);

nlohmann::json validationJson(const Validation& v);

// The summary `validate` prints and `report` shows for each stored validation: task, sites, held-out loss and
// accuracy mean ± std, training losses, gradients, weights, verdict. Nothing for a validation without steps.
void writeValidationSummary(const Validation& v, std::ostream& out);
// InputError(source) when the record lacks a field.
Validation validationFromJson(const nlohmann::json& j, const std::string& source);

}  // namespace lowmem
