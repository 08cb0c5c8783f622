// The validate verdict on hand-made held-out runs, every figure computed by hand: the seeds' spread, the
// held-out set's standard-error floor, the tolerance margin, and the three outcomes.

#include <gtest/gtest.h>

#include <cmath>

#include "core/validation.h"

namespace lowmem {
namespace {

// Three seeds of a classification run: held-out loss 2.3 before training for both models; after it, the
// original at `base` + 0.02 k and the patched `shift` above it, accuracies 0.80 + 0.01 k and `accShift` off.
Validation threeSeeds(double base, double shift, double accShift, double start = 2.3) {
  Validation v;
  v.steps.assign(10, {1.0, 1.0, 0.99, 0.0});
  v.tolerance = 0.01;
  for (int k = 0; k < 3; ++k) {
    SeedRun r;
    r.seed = static_cast<uint64_t>(k);
    r.units = 2000;
    r.lossStandardError = 0.01;
    r.heldOut.push_back({0, start, start, 0.1, 0.1});
    const double b = base + 0.02 * k, a = 0.80 + 0.01 * k;
    r.heldOut.push_back({10, b, b + shift, a, a + accShift});
    v.seeds.push_back(r);
  }
  judge(v);
  return v;
}

TEST(ValidationVerdict, DifferencesWithinTwiceTheSeedSpreadPass) {
  const auto v = threeSeeds(0.50, 0.03, -0.01);
  // Loss: original 0.50, 0.52, 0.54: mean 0.52, sample std 0.02, so the seeds allow 0.04; the floor is
  // max(2 x 0.01, 0.01 x 0.52) = 0.02.
  EXPECT_NEAR(v.heldOutLoss.baselineMean, 0.52, 1e-12);
  EXPECT_NEAR(v.heldOutLoss.baselineStd, 0.02, 1e-12);
  EXPECT_NEAR(v.heldOutLoss.seedSpread, 0.04, 1e-12);
  EXPECT_NEAR(v.heldOutLoss.floor, 0.02, 1e-12);
  EXPECT_NEAR(v.heldOutLoss.allowed, 0.04, 1e-12);
  EXPECT_NEAR(v.heldOutLoss.meanDifference, 0.03, 1e-12);
  EXPECT_TRUE(v.heldOutLoss.within);
  // Accuracy: 0.80, 0.81, 0.82: std 0.01, seeds allow 0.02; floor 2 sqrt(0.81 x 0.19 / 2000) = 0.017544.
  ASSERT_TRUE(v.classifies);
  EXPECT_NEAR(v.heldOutAccuracy.floor, 2 * std::sqrt(0.81 * 0.19 / 2000), 1e-12);
  EXPECT_NEAR(v.heldOutAccuracy.allowed, 0.02, 1e-12);
  EXPECT_NEAR(v.heldOutAccuracy.meanDifference, -0.01, 1e-12);
  EXPECT_TRUE(v.baselineLearned);
  EXPECT_TRUE(v.patchedLearned);
  EXPECT_EQ(v.outcome, ValidationOutcome::kPass);
  EXPECT_TRUE(v.passed);
}

TEST(ValidationVerdict, ALossDifferenceBeyondTheNoiseFails) {
  const auto v = threeSeeds(0.50, 0.05, 0);
  EXPECT_FALSE(v.heldOutLoss.within);
  EXPECT_EQ(v.outcome, ValidationOutcome::kFail);
  // An accuracy difference beyond it fails too, whatever the loss says.
  EXPECT_EQ(threeSeeds(0.50, 0, -0.03).outcome, ValidationOutcome::kFail);
}

TEST(ValidationVerdict, AnOriginalThatDidNotLearnIsInconclusive) {
  // The held-out loss fell by 0.01 on average, less than the floor 2 x 0.01 (0.50 + 0.02 mean, from 0.53).
  const auto v = threeSeeds(0.50, 0, 0, 0.53);
  EXPECT_FALSE(v.baselineLearned);
  EXPECT_EQ(v.outcome, ValidationOutcome::kInconclusive);
  EXPECT_FALSE(v.passed);
}

TEST(ValidationVerdict, APatchedModelThatDidNotLearnFails) {
  const auto v = threeSeeds(0.50, 1.79, 0);  // patched ends at 2.29..2.33, the original fell by 1.78
  EXPECT_TRUE(v.baselineLearned);
  EXPECT_FALSE(v.patchedLearned);
  EXPECT_EQ(v.outcome, ValidationOutcome::kFail);
}

TEST(ValidationVerdict, OneSeedAllowsOnlyTheFloorAndTheToleranceMarginCounts) {
  auto v = threeSeeds(0.50, 0.015, 0);
  v.seeds.resize(1);
  v.tolerance = 0;
  judge(v);
  EXPECT_EQ(v.heldOutLoss.seedSpread, 0);
  EXPECT_NEAR(v.heldOutLoss.allowed, 0.02, 1e-12);
  EXPECT_TRUE(v.heldOutLoss.within);
  v.seeds.front().lossStandardError = 0.001;
  judge(v);
  EXPECT_FALSE(v.heldOutLoss.within);  // 0.015 > 2 x 0.001
  v.tolerance = 0.05;                  // 5% of 0.50 = 0.025
  judge(v);
  EXPECT_NEAR(v.heldOutLoss.floor, 0.025, 1e-12);
  EXPECT_TRUE(v.heldOutLoss.within);
}

TEST(ValidationVerdict, RecordsWithoutHeldOutRunsKeepTheTrainingLossVerdict) {
  Validation v;
  v.tolerance = 0.02;
  for (int i = 0; i < 20; ++i)
    v.steps.push_back({2.0 - 0.05 * i, 2.0 - 0.05 * i, 1.0, 0.0});
  judge(v);
  EXPECT_EQ(v.window, 5);
  EXPECT_NEAR(v.lossRatio, 1.0, 1e-12);
  EXPECT_EQ(v.outcome, ValidationOutcome::kPass);
  auto j = validationJson(v);
  j.erase("seeds");
  const auto back = validationFromJson(j, "old.db");
  EXPECT_TRUE(back.seeds.empty());
  EXPECT_TRUE(back.passed);
}

TEST(ValidationVerdict, HeldOutRunsRoundTripThroughJson) {
  const auto v = threeSeeds(0.50, 0.05, 0);
  const auto back = validationFromJson(validationJson(v), "s.db");
  ASSERT_EQ(back.seeds.size(), 3u);
  EXPECT_EQ(back.seeds[2].heldOut[1].patchedAccuracy, v.seeds[2].heldOut[1].patchedAccuracy);
  EXPECT_EQ(back.heldOutLoss.meanDifference, v.heldOutLoss.meanDifference);
  EXPECT_EQ(back.outcome, ValidationOutcome::kFail);
  EXPECT_EQ(validationJson(back)["outcome"], "FAIL");
}

}  // namespace
}  // namespace lowmem
