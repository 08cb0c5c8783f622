#include "core/verification.h"

namespace lowmem {

nlohmann::json verificationJson(const Verification& v) {
  nlohmann::json grads = nlohmann::json::array();
  for (const auto& g : v.gradients)
    grads.push_back(
        {{"parameter", g.parameter}, {"cosine", g.cosine}, {"rel_error", g.relError}, {"note", g.note}});
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
