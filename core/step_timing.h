#pragma once
// The untraced step time of a model and its patched copy, measured in alternating rounds so that both meet
// the same machine state. A single ratio hides how much the machine moved (on a shared 2-core machine a
// step's time varies by several times); each round gives a ratio, and their median and interquartile range
// say what is a difference and what is noise.

#include <vector>

#include <nlohmann/json.hpp>

namespace lowmem {

struct StepTiming {
  std::vector<double> baselineSeconds;  // one untraced step per round, in the order measured
  std::vector<double> patchedSeconds;

  int rounds() const { return static_cast<int>(baselineSeconds.size()); }
  bool measured() const { return !baselineSeconds.empty(); }
  double baselineMedian() const;
  double patchedMedian() const;
  // Of the per-round ratios patched / baseline.
  double ratio() const;
  double ratioQ1() const;
  double ratioQ3() const;
  // The middle half of the rounds' ratios covers 1.0: no difference this measurement can tell.
  bool withinNoise() const;
};

// The `q` quantile (0..1) of `values`, interpolating linearly between order statistics; 0 for none.
double quantile(std::vector<double> values, double q);

// {"baseline_seconds", "patched_seconds" (medians), "rounds", "ratio", "ratio_q1", "ratio_q3",
//  "within_noise", "baseline_rounds", "patched_rounds"}; docs/session-format.md.
nlohmann::json stepTimingJson(const StepTiming& t);

// "0.987 (middle half 0.95-1.02 over 5 alternating rounds: within noise; medians 0.1234 s -> 0.1218 s)";
// a record from before the spread was kept says so; "not measured" for none.
std::string stepTimingText(const nlohmann::json& timing);

}  // namespace lowmem
