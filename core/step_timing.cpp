#include "core/step_timing.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace lowmem {
namespace {

std::vector<double> ratios(const StepTiming& t) {
  std::vector<double> r;
  for (size_t i = 0; i < t.baselineSeconds.size() && i < t.patchedSeconds.size(); ++i) {
    if (t.baselineSeconds[i] > 0) r.push_back(t.patchedSeconds[i] / t.baselineSeconds[i]);
  }
  return r;
}

}  // namespace

double quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double at = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(at));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (at - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

double StepTiming::baselineMedian() const {
  return quantile(baselineSeconds, 0.5);
}
double StepTiming::patchedMedian() const {
  return quantile(patchedSeconds, 0.5);
}
double StepTiming::ratio() const {
  return quantile(ratios(*this), 0.5);
}
double StepTiming::ratioQ1() const {
  return quantile(ratios(*this), 0.25);
}
double StepTiming::ratioQ3() const {
  return quantile(ratios(*this), 0.75);
}
bool StepTiming::withinNoise() const {
  return measured() && ratioQ1() <= 1.0 && 1.0 <= ratioQ3();
}

nlohmann::json stepTimingJson(const StepTiming& t) {
  return {{"baseline_seconds", t.baselineMedian()},
          {"patched_seconds", t.patchedMedian()},
          {"rounds", t.rounds()},
          {"ratio", t.ratio()},
          {"ratio_q1", t.ratioQ1()},
          {"ratio_q3", t.ratioQ3()},
          {"within_noise", t.withinNoise()},
          {"baseline_rounds", t.baselineSeconds},
          {"patched_rounds", t.patchedSeconds}};
}

std::string stepTimingText(const nlohmann::json& timing) {
  if (!timing.is_object() || !timing.contains("ratio")) return "not measured";
  const double ratio = timing.value("ratio", 0.0);
  const int rounds = timing.value("rounds", 0);
  char text[200];
  if (!timing.contains("ratio_q1")) {
    std::snprintf(text, sizeof text,
                  "%.3f (medians %.4f s -> %.4f s of %d alternating rounds; no spread stored)", ratio,
                  timing.value("baseline_seconds", 0.0), timing.value("patched_seconds", 0.0), rounds);
    return text;
  }
  const bool noise = timing.value("within_noise", false);
  std::snprintf(text, sizeof text,
                "%.3f (middle half %.3f-%.3f over %d alternating rounds: %s; medians %.4f s -> %.4f s)",
                ratio, timing.value("ratio_q1", 0.0), timing.value("ratio_q3", 0.0), rounds,
                noise ? "within noise" : (ratio < 1 ? "faster" : "slower"),
                timing.value("baseline_seconds", 0.0), timing.value("patched_seconds", 0.0));
  return text;
}

}  // namespace lowmem
