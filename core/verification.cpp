#include "core/verification.h"

#include <algorithm>

namespace lowmem {

const char* agreementName(GradientAgreement a) {
  switch (a) {
    case GradientAgreement::kCompared:
      return "compared";
    case GradientAgreement::kNearZero:
      return "near_zero";
    case GradientAgreement::kBothZero:
      return "both_zero";
    case GradientAgreement::kReparameterised:
      return "reparameterised";
    case GradientAgreement::kMissing:
      return "missing";
  }
  return "compared";
}

void sortWorstFirst(std::vector<GradientCheck>& checks) {
  std::stable_sort(checks.begin(), checks.end(), [](const GradientCheck& a, const GradientCheck& b) {
    if (a.agreement != b.agreement) return a.agreement < b.agreement;
    return a.agreement == GradientAgreement::kCompared && a.cosine < b.cosine;
  });
}

nlohmann::json verificationJson(const Verification& v) {
  nlohmann::json grads = nlohmann::json::array();
  for (const auto& g : v.gradients)
    grads.push_back({{"parameter", g.parameter},
                     {"cosine", g.cosine},
                     {"rel_error", g.relError},
                     {"relative_norm", g.relativeNorm},
                     {"agreement", agreementName(g.agreement)},
                     {"note", g.note}});
  return {{"forward_ok", v.forwardOk},
          {"max_abs_diff", v.maxAbsDiff},
          {"tolerance", v.tolerance},
          {"tolerance_rule", v.toleranceRule},
          {"min_cosine", v.minCosine},
          {"overall_cosine", v.overallCosine},
          {"worst_parameter", v.worstParameter},
          {"worst_cosine", v.worstCosine},
          {"worst_relative_norm", v.worstRelativeNorm},
          {"gradients", grads}};
}

}  // namespace lowmem
