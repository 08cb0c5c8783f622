// Step timings: the per-round ratios' median and middle half, checked against hand-computed order statistics.

#include "core/step_timing.h"

#include <gtest/gtest.h>

namespace lowmem {
namespace {

TEST(StepTiming, QuantilesInterpolateBetweenOrderStatistics) {
  // Sorted: 1 2 3 4; q1 at index 0.75 -> 1.75, median at 1.5 -> 2.5, q3 at 2.25 -> 3.25.
  EXPECT_DOUBLE_EQ(quantile({4, 1, 3, 2}, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(quantile({4, 1, 3, 2}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(quantile({4, 1, 3, 2}, 0.75), 3.25);
  EXPECT_DOUBLE_EQ(quantile({7}, 0.25), 7);
  EXPECT_DOUBLE_EQ(quantile({}, 0.5), 0);
}

TEST(StepTiming, RatiosArePerRoundAndTheirSpreadDecidesNoise) {
  // Rounds 2.0/1.0, 1.1/1.0, 0.9/1.0, 1.0/2.0, 1.05/1.0: ratios 2, 1.1, 0.9, 0.5, 1.05.
  StepTiming t{{1.0, 1.0, 1.0, 2.0, 1.0}, {2.0, 1.1, 0.9, 1.0, 1.05}};
  EXPECT_EQ(t.rounds(), 5);
  EXPECT_DOUBLE_EQ(t.ratio(), 1.05);  // sorted 0.5 0.9 1.05 1.1 2
  EXPECT_DOUBLE_EQ(t.ratioQ1(), 0.9);
  EXPECT_DOUBLE_EQ(t.ratioQ3(), 1.1);
  EXPECT_TRUE(t.withinNoise());
  EXPECT_DOUBLE_EQ(t.baselineMedian(), 1.0);
  EXPECT_DOUBLE_EQ(t.patchedMedian(), 1.05);
  const auto j = stepTimingJson(t);
  EXPECT_EQ(j["rounds"], 5);
  EXPECT_TRUE(j["within_noise"].get<bool>());
  EXPECT_EQ(stepTimingText(j),
            "1.050 (middle half 0.900-1.100 over 5 alternating rounds: within noise; medians 1.0000 s -> "
            "1.0500 s)");
  // Every round faster: the middle half stays below 1.
  StepTiming faster{{1.0, 1.0, 1.0}, {0.8, 0.7, 0.75}};
  EXPECT_FALSE(faster.withinNoise());
  EXPECT_NE(stepTimingText(stepTimingJson(faster)).find(": faster;"), std::string::npos);
}

TEST(StepTiming, RecordsWithoutASpreadSaySo) {
  const nlohmann::json old = {
      {"ratio", 0.98}, {"baseline_seconds", 0.1}, {"patched_seconds", 0.098}, {"rounds", 5}};
  EXPECT_NE(stepTimingText(old).find("no spread stored"), std::string::npos);
  EXPECT_EQ(stepTimingText(nlohmann::json::object()), "not measured");
}

}  // namespace
}  // namespace lowmem
