// The peak prediction on a hand-built trace (tests/core/hand_traces.h), each storage's fate computed by hand:
// the input the norm's backward kept (released at the end of its forward), its output (kept
// by the MS-norm until its backward), a temporary its backward made and freed (the MS-norm's single kernel
// makes none), the gradient of a gamma folded into the linear (no longer made), the gradient it passes on
// (unchanged), and the per-row rstd the MS-norm adds.

#include <gtest/gtest.h>

#include <algorithm>

#include "core/peak_prediction.h"
#include "core/profile.h"
#include "tests/core/hand_traces.h"

namespace lowmem {
namespace {

using namespace lowmem::testing;

TEST(PeakPrediction, NormSiteReleasesItsSavedInputTemporariesAndFoldedGammasGradient) {
  const auto t = normSiteTrace();
  const auto p = analyseTrace(t);
  // Baseline, by hand, inside the norm's backward: its saved input 400, its temporary 1000, the gradient it
  // passes on 400.
  ASSERT_EQ(p.peak().total, 1800);

  const auto e = siteEffect(t, p, foldedNorm(), 0, 4);
  ASSERT_TRUE(e.found) << e.note;
  EXPECT_EQ(e.releasedBytes, 400);         // the input NativeLayerNormBackward0 kept
  EXPECT_EQ(e.droppedGradientBytes, 400);  // norm.weight.grad: gamma lives in lin.weight now
  // Added: the output, now kept until the norm's backward (no consumer kept it), and rstd: 100 elements of
  // 4 bytes are one row of normalizedSize 100, one float.
  EXPECT_EQ(e.addedBytes, 400 + 4);
  const auto freedAt = [&](uint64_t addr) {
    for (const auto& [i, seq] : e.newFree) {
      if (p.storages[i].addr == addr && p.storages[i].bytes > 0) return seq;
    }
    return int64_t{-2};
  };
  EXPECT_EQ(freedAt(kInput), 4);    // at the end of the norm's forward
  EXPECT_EQ(freedAt(kOutput), 30);  // at the end of its backward
  EXPECT_EQ(freedAt(kTemp), 22);    // never made: freed where it was allocated
  EXPECT_EQ(freedAt(kGamma), 27);   // never made
  EXPECT_EQ(freedAt(kGradIn), -2);  // passed on to the layer before: unchanged
  // Replayed by hand, again inside the norm's backward: the kept output 400, rstd 4, the gradient in 400.
  EXPECT_EQ(predictedPeak(p, {&e}), 400 + 4 + 400);
}

TEST(PeakPrediction, NoFoldKeepsTheGammaGradient) {
  const auto t = normSiteTrace();
  const auto p = analyseTrace(t);
  auto plan = foldedNorm();
  plan.residualUses = 1;  // post-LN: gamma is re-applied on the residual, so it still gets a gradient
  const auto e = siteEffect(t, p, plan, 0, 4);
  EXPECT_EQ(e.droppedGradientBytes, 0);
}

}  // namespace
}  // namespace lowmem

namespace lowmem {
namespace {

TEST(TraceShapes, FirstShapeReadsTheFirstTensorOfARecordedShapeText) {
  EXPECT_EQ(firstShape("[2,197,768] [768] 1"), (std::vector<int64_t>{2, 197, 768}));
  EXPECT_EQ(firstShape("[] 0.5"), std::vector<int64_t>{});  // a scalar tensor
  EXPECT_EQ(firstShape(""), std::nullopt);                  // no shapes recorded
  EXPECT_EQ(firstShape("Tensor [2]"), std::nullopt);        // a first argument that is not a tensor's sizes
}

}  // namespace
}  // namespace lowmem
