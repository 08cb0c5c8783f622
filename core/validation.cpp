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

// The training-loss ratio over the final window of the first seed's steps: shown for every record, the
// verdict only of records without held-out runs.
void judgeTrainingLoss(Validation& v) {
  const size_t n = v.steps.size();
  v.window = static_cast<int>(std::min<size_t>(n / 2, std::max<size_t>(5, n / 10)));
  const size_t w = static_cast<size_t>(std::max(1, v.window));
  if (n < 2 * w) return;
  const double baseFinal = meanLoss(v.steps, n - w, n, false),
               patchedFinal = meanLoss(v.steps, n - w, n, true);
  v.lossRatio = baseFinal > 0 ? patchedFinal / baseFinal : 0;
  if (!v.seeds.empty()) return;
  v.baselineLearned = baseFinal < meanLoss(v.steps, 0, w, false);
  v.patchedLearned = patchedFinal < meanLoss(v.steps, 0, w, true);
  v.passed = v.baselineLearned && v.patchedLearned && std::abs(v.lossRatio - 1.0) <= v.tolerance;
  v.outcome = v.passed ? ValidationOutcome::kPass : ValidationOutcome::kFail;
}

struct Moments {
  double mean = 0, std = 0;  // sample standard deviation (n - 1); 0 for one value
};

Moments moments(const std::vector<double>& x) {
  Moments m;
  for (double a : x)
    m.mean += a;
  m.mean /= static_cast<double>(std::max<size_t>(1, x.size()));
  if (x.size() < 2) return m;
  double ss = 0;
  for (double a : x)
    ss += (a - m.mean) * (a - m.mean);
  m.std = std::sqrt(ss / static_cast<double>(x.size() - 1));
  return m;
}

// A final held-out measure of every seed, set against the seeds' spread and the floor `floorAt` gives for the
// original's mean.
template <typename Get, typename Floor>
NoiseComparison compareFinal(const std::vector<SeedRun>& seeds, Get get, Floor floorAt) {
  std::vector<double> base, patched, diff;
  for (const auto& s : seeds) {
    const auto& last = s.heldOut.back();
    base.push_back(get(last, false));
    patched.push_back(get(last, true));
    diff.push_back(patched.back() - base.back());
  }
  const auto b = moments(base), p = moments(patched);
  NoiseComparison c;
  c.baselineMean = b.mean;
  c.baselineStd = b.std;
  c.patchedMean = p.mean;
  c.patchedStd = p.std;
  c.meanDifference = moments(diff).mean;
  c.seedSpread = 2 * b.std;
  c.floor = floorAt(b.mean);
  c.allowed = std::max(c.seedSpread, c.floor);
  c.within = std::abs(c.meanDifference) <= c.allowed;
  return c;
}

// Mean over seeds of the held-out loss's fall from step 0 to the last step.
double meanFall(const std::vector<SeedRun>& seeds, bool patched) {
  double sum = 0;
  for (const auto& s : seeds) {
    const auto& a = s.heldOut.front();
    const auto& z = s.heldOut.back();
    sum += patched ? a.patchedLoss - z.patchedLoss : a.baselineLoss - z.baselineLoss;
  }
  return sum / static_cast<double>(seeds.size());
}

void judgeHeldOut(Validation& v) {
  double se = 0, units = 0;
  for (const auto& s : v.seeds) {
    se += s.lossStandardError;
    units += s.units;
  }
  se /= static_cast<double>(v.seeds.size());
  units /= static_cast<double>(v.seeds.size());
  const double learnFloor = 2 * se;
  v.heldOutLoss = compareFinal(
      v.seeds, [](const HeldOutPoint& p, bool patched) { return patched ? p.patchedLoss : p.baselineLoss; },
      [&](double mean) { return std::max(learnFloor, v.tolerance * mean); });
  v.classifies = v.seeds.front().heldOut.back().baselineAccuracy >= 0;
  if (v.classifies) {
    // A share p measured on `units` examples has the standard error sqrt(p (1 - p) / units).
    v.heldOutAccuracy = compareFinal(
        v.seeds,
        [](const HeldOutPoint& p, bool patched) { return patched ? p.patchedAccuracy : p.baselineAccuracy; },
        [&](double p) { return 2 * std::sqrt(p * (1 - p) / std::max(1.0, units)); });
  }
  v.baselineLearned = meanFall(v.seeds, false) > learnFloor;
  v.patchedLearned = meanFall(v.seeds, true) > learnFloor;
  v.outcome = !v.baselineLearned ? ValidationOutcome::kInconclusive
              : !v.patchedLearned || !v.heldOutLoss.within || (v.classifies && !v.heldOutAccuracy.within)
                  ? ValidationOutcome::kFail
                  : ValidationOutcome::kPass;
  v.passed = v.outcome == ValidationOutcome::kPass;
}

nlohmann::json comparisonJson(const NoiseComparison& c) {
  return {{"original_mean", c.baselineMean},
          {"original_std", c.baselineStd},
          {"patched_mean", c.patchedMean},
          {"patched_std", c.patchedStd},
          {"mean_difference", c.meanDifference},
          {"seed_spread", c.seedSpread},
          {"floor", c.floor},
          {"allowed", c.allowed},
          {"within", c.within}};
}

}  // namespace

const char* outcomeName(ValidationOutcome o) {
  switch (o) {
    case ValidationOutcome::kPass:
      return "PASS";
    case ValidationOutcome::kFail:
      return "FAIL";
    case ValidationOutcome::kInconclusive:
      return "INCONCLUSIVE";
  }
  return "?";
}

void judge(Validation& v) {
  v.passed = false;
  v.outcome = ValidationOutcome::kFail;
  judgeTrainingLoss(v);
  const bool heldOut = !v.seeds.empty() && std::all_of(v.seeds.begin(), v.seeds.end(), [](const SeedRun& s) {
    return s.heldOut.size() >= 2;
  });
  if (heldOut) judgeHeldOut(v);
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
  nlohmann::json seeds = nlohmann::json::array();
  for (const auto& s : v.seeds) {
    nlohmann::json points = nlohmann::json::array();
    for (const auto& p : s.heldOut) {
      points.push_back({{"step", p.step},
                        {"baseline_loss", p.baselineLoss},
                        {"patched_loss", p.patchedLoss},
                        {"baseline_accuracy", p.baselineAccuracy},
                        {"patched_accuracy", p.patchedAccuracy}});
    }
    seeds.push_back({{"seed", s.seed},
                     {"held_out", points},
                     {"loss_standard_error", s.lossStandardError},
                     {"units", s.units}});
  }
  nlohmann::json j = {{"model", v.modelPath},
                      {"task", v.task},
                      {"bits", v.bits},
                      {"rewrites", v.rewrites},
                      {"steps", steps},
                      {"seeds", seeds},
                      {"tolerance", v.tolerance},
                      {"window", v.window},
                      {"loss_ratio", v.lossRatio},
                      {"baseline_learned", v.baselineLearned},
                      {"patched_learned", v.patchedLearned},
                      {"mean_gradient_cosine", meanGradientCosine(v)},
                      {"min_gradient_cosine", minGradientCosine(v)},
                      {"outcome", outcomeName(v.outcome)},
                      {"passed", v.passed}};
  if (!v.seeds.empty()) j["held_out_loss"] = comparisonJson(v.heldOutLoss);
  if (v.classifies) j["held_out_accuracy"] = comparisonJson(v.heldOutAccuracy);
  return j;
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
    for (const auto& s : j.value("seeds", nlohmann::json::array())) {
      SeedRun run;
      run.seed = s.at("seed").get<uint64_t>();
      run.lossStandardError = s.at("loss_standard_error").get<double>();
      run.units = s.at("units").get<int>();
      for (const auto& p : s.at("held_out")) {
        run.heldOut.push_back({p.at("step").get<int>(), p.at("baseline_loss").get<double>(),
                               p.at("patched_loss").get<double>(), p.at("baseline_accuracy").get<double>(),
                               p.at("patched_accuracy").get<double>()});
      }
      v.seeds.push_back(std::move(run));
    }
    v.tolerance = j.at("tolerance").get<double>();
    judge(v);
    return v;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source, std::string("corrupt validation record (") + e.what() + ")");
  }
}

}  // namespace lowmem
