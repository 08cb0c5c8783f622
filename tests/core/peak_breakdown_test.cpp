// When the peak happens and which op asked for the memory, on hand-built traces whose answers are known.

#include "core/peak_breakdown.h"

#include <gtest/gtest.h>

#include "tests/core/hand_traces.h"

namespace lowmem {
namespace {

TEST(PeakBreakdown, AllocationsAreChargedToTheOpThatAskedNotItsEmpty) {
  Trace t;
  StringInterner in(t.strings);
  const auto fn = OpScope::kFunction;
  t.ops = {
      {in.intern("aten::add"), fn, Phase::kForward, -1, in.intern("block"), -1, 1, 9, 0, 0},
      {in.intern("aten::empty"), fn, Phase::kForward, -1, 0, 0, 2, 3, 0, 0},
      {in.intern("aten::empty_strided"), fn, Phase::kForward, -1, 0, 1, 4, 5, 0, 0},
      {in.intern("aten::empty"), fn, Phase::kForward, -1, 0, -1, 10, 11, 0, 0},
      {in.intern("forward"), OpScope::kTorchScript, Phase::kForward, -1, in.intern("m"), -1, 12, 20, 0, 0},
      {in.intern("aten::empty"), fn, Phase::kForward, -1, 0, 4, 13, 14, 0, 0},
  };
  EXPECT_EQ(requestingOp(t, 1), 0);  // aten::add's own output
  EXPECT_EQ(requestingOp(t, 2), 0);  // a helper inside a helper inside aten::add
  EXPECT_EQ(requestingOp(t, 3), 3);  // torch.empty called by the model: the helper is the asker
  EXPECT_EQ(requestingOp(t, 5), 5);  // ... also inside a TorchScript method
  EXPECT_EQ(requestingOp(t, 0), 0);
  EXPECT_EQ(requestingOp(t, -1), -1);
}

TEST(PeakBreakdown, ThePeakMomentNamesPhaseOpAndTheForwardModuleOfABackwardNode) {
  // normSiteTrace peaks at seq 23 (input 400 + temporary 1000 + gradient 400 = 1,800 bytes), allocated by
  // aten::native_layer_norm_backward inside NativeLayerNormBackward0, whose forward op ran in module "norm".
  const auto t = testing::normSiteTrace();
  const auto p = analyseTrace(t);
  ASSERT_EQ(p.peak().total, 1800);
  ASSERT_EQ(p.peak().seq, 23);
  const auto m = peakMoment(t, p);
  EXPECT_EQ(m.phase, Phase::kBackward);
  EXPECT_EQ(m.op, "aten::native_layer_norm_backward");
  EXPECT_EQ(m.module, "norm");
  EXPECT_EQ(m.backwardNode, "NativeLayerNormBackward0");
  EXPECT_DOUBLE_EQ(m.secondsIntoStep, 230e-9);
  EXPECT_EQ(
      peakMomentText(m),
      "backward: aten::native_layer_norm_backward in norm (NativeLayerNormBackward0), 0.000 s into the step");
}

}  // namespace
}  // namespace lowmem
