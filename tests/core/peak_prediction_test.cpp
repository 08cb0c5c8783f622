// The peak prediction on a hand-built trace of one LayerNorm site feeding a linear, each storage's fate
// computed by hand: the input the norm's backward kept (released at the end of its forward), its output (kept
// by the MS-norm until its backward), a temporary its backward made and freed (the MS-norm's single kernel
// makes none), the gradient of a gamma folded into the linear (no longer made), the gradient it passes on
// (unchanged), and the per-row rstd the MS-norm adds.

#include <gtest/gtest.h>

#include <algorithm>

#include "core/peak_prediction.h"
#include "core/profile.h"

namespace lowmem {
namespace {

constexpr uint64_t kInput = 0x1000, kOutput = 0x2000, kLinear = 0x3000, kTemp = 0x4000, kGradIn = 0x5000,
                   kGamma = 0x6000;

Trace normSiteTrace() {
  Trace t;
  StringInterner in(t.strings);
  t.phases = {{Phase::kForward, 0, 0},
              {Phase::kLoss, 10, 100},
              {Phase::kBackward, 15, 150},
              {Phase::kAfter, 40, 400}};
  const auto fn = OpScope::kFunction;
  t.ops = {
      // name, scope, phase, seqNr, module, parent, beginSeq, endSeq, beginNs, endNs
      {in.intern("aten::layer_norm"), fn, Phase::kForward, 5, in.intern("norm"), -1, 1, 4, 10, 40},
      {in.intern("aten::linear"), fn, Phase::kForward, 6, in.intern("lin"), -1, 5, 8, 50, 80},
      {in.intern("AddmmBackward0"), OpScope::kBackward, Phase::kBackward, 6, 0, -1, 16, 19, 160, 190},
      {in.intern("NativeLayerNormBackward0"), OpScope::kBackward, Phase::kBackward, 5, 0, -1, 20, 30, 200,
       300},
      {in.intern("aten::native_layer_norm_backward"), fn, Phase::kBackward, -1, 0, 3, 21, 29, 210, 290},
  };
  // seq, time, addr, bytes, innermost op
  t.memory = {
      {0, 0, kInput, 400, -1, -1},    {2, 20, kOutput, 400, 0, -1},     {6, 60, kLinear, 40, 1, -1},
      {9, 90, kOutput, -400, -1, -1}, {18, 180, kLinear, -40, 2, -1},   {22, 220, kTemp, 1000, 4, -1},
      {23, 230, kGradIn, 400, 4, -1}, {24, 240, kTemp, -1000, 4, -1},   {26, 260, kInput, -400, 4, -1},
      {27, 270, kGamma, 400, 4, -1},  {35, 350, kGradIn, -400, -1, -1},
  };
  t.known.push_back({kGamma, 400, KnownRole::kGradient, in.intern("norm.weight.grad"), false});
  return t;
}

SitePlan foldedNorm() {
  SitePlan plan;
  plan.site.kind = SiteKind::kLayerNorm;
  plan.site.modulePath = "norm";
  plan.valid = true;
  plan.gamma = "norm.weight";
  plan.normalizedSize = 100;
  FoldTarget f;
  f.weight = "lin.weight";
  f.bias = "lin.bias";
  plan.folds.push_back(f);
  return plan;
}

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
