#include "core/validation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "core/format.h"

namespace lowmem {
namespace {

double meanLoss(const std::vector<ValidationStep>& s, size_t from, size_t to, bool patched) {
  double sum = 0;
  for (size_t i = from; i < to; ++i)
    sum += patched ? s[i].patchedLoss : s[i].baselineLoss;
  return sum / static_cast<double>(std::max<size_t>(1, to - from));
}

}  // namespace

void judge(Validation& v) {
  const size_t n = v.steps.size();
  v.window = static_cast<int>(std::min<size_t>(n / 2, std::max<size_t>(5, n / 10)));
  const size_t w = static_cast<size_t>(std::max(1, v.window));
  if (n < 2 * w) {
    v.passed = false;
    return;
  }
  const double baseFinal = meanLoss(v.steps, n - w, n, false),
               patchedFinal = meanLoss(v.steps, n - w, n, true);
  v.baselineLearned = baseFinal < meanLoss(v.steps, 0, w, false);
  v.patchedLearned = patchedFinal < meanLoss(v.steps, 0, w, true);
  v.lossRatio = baseFinal > 0 ? patchedFinal / baseFinal : 0;
  v.passed = v.baselineLearned && v.patchedLearned && std::abs(v.lossRatio - 1.0) <= v.tolerance;
}

double meanGradientCosine(const Validation& v) {
  double sum = 0;
  for (const auto& s : v.steps)
    sum += s.gradientCosine;
  return v.steps.empty() ? 0 : sum / static_cast<double>(v.steps.size());
}

double minGradientCosine(const Validation& v) {
  double m = 1;
  for (const auto& s : v.steps)
    m = std::min(m, s.gradientCosine);
  return m;
}

nlohmann::json validationJson(const Validation& v) {
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& s : v.steps) {
    steps.push_back({{"baseline_loss", s.baselineLoss},
                     {"patched_loss", s.patchedLoss},
                     {"gradient_cosine", s.gradientCosine},
                     {"weight_divergence", s.weightDivergence}});
  }
  return {{"model", v.modelPath},
          {"task", v.task},
          {"bits", v.bits},
          {"rewrites", v.rewrites},
          {"steps", steps},
          {"tolerance", v.tolerance},
          {"window", v.window},
          {"loss_ratio", v.lossRatio},
          {"baseline_learned", v.baselineLearned},
          {"patched_learned", v.patchedLearned},
          {"mean_gradient_cosine", meanGradientCosine(v)},
          {"min_gradient_cosine", minGradientCosine(v)},
          {"passed", v.passed}};
}

Validation validationFromJson(const nlohmann::json& j, const std::string& source) {
  try {
    Validation v;
    v.modelPath = j.at("model").get<std::string>();
    v.task = j.at("task").get<std::string>();
    v.bits = j.at("bits").get<int>();
    v.rewrites = j.at("rewrites").get<std::vector<AppliedRewrite>>();
    for (const auto& s : j.at("steps")) {
      v.steps.push_back({s.at("baseline_loss").get<double>(), s.at("patched_loss").get<double>(),
                         s.at("gradient_cosine").get<double>(), s.at("weight_divergence").get<double>()});
    }
    v.tolerance = j.at("tolerance").get<double>();
    judge(v);
    return v;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source, std::string("corrupt validation record (") + e.what() + ")");
  }
}

void writeValidationSummary(const Validation& v, std::ostream& out) {
  if (v.steps.empty()) return;
  const auto& first = v.steps.front();
  const auto& last = v.steps.back();
  char line[512];
  auto put = [&](int n) { out.write(line, std::min<std::streamsize>(n, sizeof line - 1)); };
  put(std::snprintf(line, sizeof line, "task        %s\n", printable(v.task).c_str()));
  put(std::snprintf(line, sizeof line, "patched     %zu sites, activation codes of %d bits\n",
                    v.rewrites.size(), v.bits));
  put(std::snprintf(
      line, sizeof line, "loss        original %.4f -> %.4f, patched %.4f -> %.4f over %zu steps\n",
      first.baselineLoss, last.baselineLoss, first.patchedLoss, last.patchedLoss, v.steps.size()));
  put(std::snprintf(line, sizeof line, "gradients   cosine %.4f at step 1, %.4f mean, %.4f at worst\n",
                    first.gradientCosine, meanGradientCosine(v), minGradientCosine(v)));
  put(std::snprintf(line, sizeof line, "weights     relative divergence %.3g at the end\n",
                    last.weightDivergence));
  put(std::snprintf(
      line, sizeof line,
      "verdict     %s: final-%d-step mean loss ratio patched/original %.4f (|ratio - 1| <= %.3f%s)\n",
      v.passed ? "PASS" : "FAIL", v.window, v.lossRatio, v.tolerance,
      v.baselineLearned && v.patchedLearned ? ""
      : !v.baselineLearned                  ? "; the original did not learn: raise --steps or --lr"
                                            : "; the patched model did not learn"));
}

}  // namespace lowmem
