#pragma once
// The record of `lowmem validate`: the original and the patched model fine-tuned side by side, step by step,
// and the verdict drawn from it. Plain data so the session store, reports and the studio share it.

#include <nlohmann/json.hpp>

#include <ostream>
#include <string>
#include <vector>

#include "core/applied_rewrite.h"

namespace lowmem {

struct ValidationStep {
  double baselineLoss = 0;
  double patchedLoss = 0;
  double gradientCosine = 0;    // trainable gradients of both models, concatenated
  double weightDivergence = 0;  // |w_patched - w_baseline| / |w_baseline| over parameters no fold changed
};

struct Validation {
  std::string modelPath;
  std::string task;  // "classification: ...", "next-token prediction: ...", "regression: ..."
  int bits = 2;      // of the activation swaps
  std::vector<AppliedRewrite> rewrites;
  std::vector<ValidationStep> steps;
  double tolerance = 0;  // the verdict passes when |lossRatio - 1| <= tolerance
  // Filled by judge():
  int window = 0;                // final steps averaged for the verdict (and first steps for "learned")
  double lossRatio = 0;          // mean patched / mean baseline loss over the final window
  bool baselineLearned = false;  // final-window mean loss below the first window's
  bool patchedLearned = false;
  bool passed = false;
};

// The verdict: window = max(5, steps/10) capped at half the steps; passes when both models learned and the
// final-window loss ratio is within the tolerance.
void judge(Validation& v);

double meanGradientCosine(const Validation& v);
double minGradientCosine(const Validation& v);

nlohmann::json validationJson(const Validation& v);

// The summary `validate` prints and `report` shows for each stored validation: task, sites, losses,
// gradients, weights, verdict. Nothing for a validation without steps.
void writeValidationSummary(const Validation& v, std::ostream& out);
// InputError(source) when the record lacks a field.
Validation validationFromJson(const nlohmann::json& j, const std::string& source);

}  // namespace lowmem
