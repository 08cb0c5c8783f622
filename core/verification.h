#pragma once
// What checking a patched model against the original found: the forward outputs within the dtype's
// tolerance (the gate: a model that fails it is not saved), and each trainable gradient's agreement
// (reported, since ReGELU2/ReSiLU2's backward is approximate by design). The patcher fills it, the service
// stores it in a session, the CLI, the GUI and the comparison report read it.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lowmem {

// How far a parameter's gradient pair says anything. A cosine between two zero gradients (a LoRA A while its
// B is still zero) is 1 and proves nothing; between two gradients a ten-thousandth of the largest it is
// rounding.
enum class GradientAgreement {
  kCompared,         // both gradients carry signal: the cosine means what it says
  kNearZero,         // the original's norm is under kNearZeroGradient of the largest
  kBothZero,         // both exactly zero
  kReparameterised,  // a fold changed the parameter's value: its gradient is another quantity
  kMissing,          // the patched model has no gradient for it
};

// Relative to the largest gradient norm of the step.
inline constexpr double kNearZeroGradient = 1e-4;

struct GradientCheck {
  std::string parameter;
  double cosine = 0;        // cosine similarity of the flattened gradients
  double relError = 0;      // |g_patched - g_original| / |g_original|
  double relativeNorm = 0;  // |g_original| / the largest |g_original| of the step
  GradientAgreement agreement = GradientAgreement::kCompared;
  std::string note;  // why it is not compared, in words; "" for kCompared
};

// Worst first: compared gradients by cosine, then near-zero, both-zero, reparameterised and missing ones.
void sortWorstFirst(std::vector<GradientCheck>& checks);

// "compared", "near_zero", "both_zero", "reparameterised", "missing".
const char* agreementName(GradientAgreement a);

struct Verification {
  bool forwardOk = false;
  double maxAbsDiff = 0;
  double maxAbsOutput = 0;
  double tolerance = 0;                  // the bound maxAbsDiff was held to
  std::string toleranceRule;             // how `tolerance` was set, for the report
  std::vector<GradientCheck> gradients;  // worst first (sortWorstFirst)
  double minCosine = 1;                  // over the kCompared gradients
  // Every directly compared gradient concatenated: the direction the optimizer step takes, as a whole.
  double overallCosine = 1;
  // The kCompared parameter with the lowest cosine, and its original gradient's norm relative to the largest
  // one's: a low cosine on a gradient a thousand times smaller than the rest moves almost nothing.
  std::string worstParameter;
  double worstCosine = 1;
  double worstRelativeNorm = 0;
};

// As `patch --json` prints it and a session's comparison record stores it (docs/session-format.md).
nlohmann::json verificationJson(const Verification& v);

}  // namespace lowmem
