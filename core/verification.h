#pragma once
// What checking a patched model against the original found: the forward outputs within the dtype's
// tolerance (the gate: a model that fails it is not saved), and each trainable gradient's agreement
// (reported, since ReGELU2/ReSiLU2's backward is approximate by design). The patcher fills it, the service
// stores it in a session, the CLI, the GUI and the comparison report read it.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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

// As `patch --json` prints it and a session's comparison record stores it (docs/session-format.md).
nlohmann::json verificationJson(const Verification& v);

}  // namespace lowmem
