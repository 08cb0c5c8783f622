// Core's analysis on traces built by hand (tests/core/hand_traces.h): each storage's category, reason and
// holder, the largest storages alive at any point against a brute-force scan, the suggestion a site gets,
// and the price of checkpointing repeated blocks, every figure worked out from the events by hand.

#include <gtest/gtest.h>

#include <algorithm>

#include "core/checkpoint_pricing.h"
#include "core/error.h"
#include "core/profile.h"
#include "core/suggestions.h"
#include "core/timeline_series.h"
#include "tests/core/hand_traces.h"

namespace lowmem {
namespace {

using namespace lowmem::testing;

const StorageLife& storageAt(const Profile& p, uint64_t addr) {
  for (const auto& s : p.storages) {
    if (s.addr == addr) return s;
  }
  throw std::logic_error("no storage at that address");
}

// Ops that make no autograd node record the number the next node will take: a mask sliced from a buffer just
// before lowmem::attention carries the op's number. The node's forward op is the last outermost op with it
// (an op's callees with its number are part of it), not the first.
TEST(Categorise, ABackwardNodeJoinsTheLastOutermostForwardOpWithItsNumber) {
  Trace t = normSiteTrace();
  StringInterner in(t.strings);
  // Before aten::layer_norm (seq 1..4): an aten::slice of a buffer at seq 0.5, which makes no node, with 5
  // too.
  OpEvent slice{
      in.intern("aten::slice"), OpScope::kFunction, Phase::kForward, 5, in.intern("norm"), -1, 0, 0, 0, 5};
  t.ops.insert(t.ops.begin(), slice);
  for (auto& op : t.ops) {
    if (op.parent >= 0) ++op.parent;
  }
  for (auto& e : t.memory) {
    if (e.op >= 0) ++e.op;
  }
  // And a callee of aten::layer_norm with the same number (native_layer_norm under layer_norm).
  OpEvent callee{in.intern("aten::native_layer_norm"),
                 OpScope::kFunction,
                 Phase::kForward,
                 5,
                 in.intern("norm"),
                 1,
                 2,
                 3,
                 20,
                 30};
  t.ops.push_back(callee);
  const auto p = analyseTrace(t);
  EXPECT_EQ(t.opName(storageAt(p, kInput).holderForwardOp), "aten::layer_norm");
}

TEST(Categorise, EachStoragesCategoryReasonAndHolderFollowFromItsEvents) {
  const auto t = normSiteTrace();
  const auto p = analyseTrace(t);
  // Made in forward, alive when backward starts (seq 15), freed inside NativeLayerNormBackward0's kernel:
  // an activation held by that node, joined to aten::layer_norm by sequence number 5.
  const auto& input = storageAt(p, kInput);
  EXPECT_EQ(input.category, Category::kActivation);
  EXPECT_EQ(t.opName(input.holderOp), "NativeLayerNormBackward0");
  EXPECT_EQ(t.opName(input.holderForwardOp), "aten::layer_norm");
  EXPECT_EQ(
      p.reasonOf(input),
      "allocated by (no op) in forward, alive when backward starts, released by NativeLayerNormBackward0");
  const auto& linear = storageAt(p, kLinear);
  EXPECT_EQ(linear.category, Category::kActivation);
  EXPECT_EQ(t.opName(linear.holderForwardOp), "aten::linear");
  // Made and freed within one phase: temporaries.
  EXPECT_EQ(storageAt(p, kOutput).category, Category::kTemporary);
  EXPECT_EQ(p.reasonOf(storageAt(p, kOutput)), "allocated by aten::layer_norm and freed within forward");
  EXPECT_EQ(storageAt(p, kTemp).category, Category::kTemporary);
  EXPECT_EQ(storageAt(p, kGradIn).category, Category::kTemporary);
  // Never freed and named after the step: gamma's gradient, by its role.
  const auto& gamma = storageAt(p, kGamma);
  EXPECT_EQ(gamma.category, Category::kGradient);
  EXPECT_EQ(p.reasonOf(gamma),
            "gradient norm.weight.grad, allocated by aten::native_layer_norm_backward in backward");
  // Activations by hand: 400 + 40 bytes, all under the root, 400 of them in "norm".
  EXPECT_EQ(p.activationBytes, 440);
}

TEST(LargestAlive, MatchesAScanOfEveryStorageAtEverySeq) {
  const auto t = normSiteTrace();
  const auto p = analyseTrace(t);
  std::vector<int64_t> seqs;
  for (int64_t s = -1; s <= 40; ++s)
    seqs.push_back(s);
  for (size_t count : {size_t{1}, size_t{2}, size_t{10}}) {
    const auto lists = largestAliveAt(p, seqs, count);
    ASSERT_EQ(lists.size(), seqs.size());
    for (size_t k = 0; k < seqs.size(); ++k) {
      auto expected = p.aliveAt(seqs[k]);
      std::sort(expected.begin(), expected.end(), [&](size_t a, size_t b) {
        return p.storages[a].bytes != p.storages[b].bytes ? p.storages[a].bytes > p.storages[b].bytes : a < b;
      });
      expected.resize(std::min(expected.size(), count));
      EXPECT_EQ(lists[k], expected) << "seq " << seqs[k] << ", count " << count;
    }
  }
  // At the peak (inside the norm's backward, seq 22): the temporary 1000, then the two of 400.
  const auto atPeak = largestAliveAt(p, {p.peak().seq}, 1);
  ASSERT_EQ(atPeak.front().size(), 1u);
  EXPECT_EQ(p.storages[atPeak.front().front()].addr, kTemp);
}

TEST(SuggestSwaps, ASiteThatAddsMoreThanItReleasesIsNotChosenAndSaysWhy) {
  const auto t = normSiteTrace();
  const auto p = analyseTrace(t);
  const auto s = suggestSwaps(t, p, {foldedNorm()}, 4);
  ASSERT_EQ(s.sites.size(), 1u);
  const auto& site = s.sites.front();
  // Releases the input (400), adds the output kept to its backward (400) and one rstd row (4).
  EXPECT_EQ(site.savingBytes, 400 - 404);
  EXPECT_EQ(site.status, SiteStatus::kNoSaving);
  EXPECT_EQ(site.why, "it would add 404 B for the 400 B it releases");
  EXPECT_FALSE(site.chosen);
  EXPECT_EQ(site.predictedPeak, 400 + 4 + 400);  // alone, replayed by hand (peak_prediction_test)
  EXPECT_EQ(s.baselinePeak, 1800);
  EXPECT_EQ(s.predictedPeak, 1800);  // nothing chosen
}

TEST(SuggestSwaps, AnInvalidPlanKeepsItsReasonAndASelectorMustMatch) {
  const auto t = normSiteTrace();
  const auto p = analyseTrace(t);
  auto plan = foldedNorm();
  plan.valid = false;
  plan.reason = "its output is also returned";
  const auto s = suggestSwaps(t, p, {plan}, 4);
  EXPECT_EQ(s.sites.front().status, SiteStatus::kInvalid);
  EXPECT_EQ(s.sites.front().why, "its output is also returned");
  EXPECT_NO_THROW(suggestSwaps(t, p, {foldedNorm()}, 4, {"layer_norm"}));
  EXPECT_NO_THROW(suggestSwaps(t, p, {foldedNorm()}, 4, {"norm"}));
  try {
    suggestSwaps(t, p, {foldedNorm()}, 4, {"gelu"});
    FAIL() << "a selector matching nothing was accepted";
  } catch (const SettingError& e) {
    EXPECT_EQ(e.setting(), "only");
    EXPECT_EQ(e.problem().rfind("'gelu' matches no site", 0), 0u) << e.problem();
  }
}

// Two blocks, layers.0 and layers.1, each making two activations in forward that their backward node frees.
Trace twoBlockTrace() {
  Trace t;
  StringInterner in(t.strings);
  t.phases = {{Phase::kForward, 0, 0},
              {Phase::kLoss, 10, 100},
              {Phase::kBackward, 12, 120},
              {Phase::kAfter, 30, 300}};
  const auto fn = OpScope::kFunction, bw = OpScope::kBackward;
  t.ops = {
      {in.intern("aten::mul"), fn, Phase::kForward, 1, in.intern("layers.0"), -1, 1, 3, 10, 30},
      {in.intern("aten::mul"), fn, Phase::kForward, 2, in.intern("layers.1"), -1, 4, 6, 40, 70},
      {in.intern("MulBackward0"), bw, Phase::kBackward, 2, 0, -1, 13, 16, 130, 160},
      {in.intern("MulBackward0"), bw, Phase::kBackward, 1, 0, -1, 17, 20, 170, 200},
  };
  t.memory = {
      {1, 10, 0xA0, 100, 0, -1},    {2, 20, 0xB0, 50, 0, -1},     {4, 40, 0xA1, 200, 1, -1},
      {5, 50, 0xB1, 70, 1, -1},     {14, 140, 0xA1, -200, 2, -1}, {15, 150, 0xB1, -70, 2, -1},
      {18, 180, 0xA0, -100, 3, -1}, {19, 190, 0xB0, -50, 3, -1},
  };
  return t;
}

TEST(PriceCheckpointing, DropsEachBlocksActivationsButItsOutputAndRecomputesItsForward) {
  const auto t = twoBlockTrace();
  const auto p = analyseTrace(t);
  ASSERT_EQ(p.peak().total, 100 + 50 + 200 + 70);
  const auto c = priceCheckpointing(t, p);
  ASSERT_TRUE(c.found) << c.why;
  EXPECT_EQ(c.level, "layers.*");
  ASSERT_EQ(c.blocks.size(), 2u);
  EXPECT_EQ(c.blocks[0].module, "layers.0");
  EXPECT_EQ(c.blocks[0].activationBytes, 150);
  EXPECT_EQ(c.blocks[0].keptBytes, 50);  // its output: the last storage its forward made
  EXPECT_DOUBLE_EQ(c.blocks[0].forwardSeconds, 20e-9);
  EXPECT_EQ(c.blocks[1].activationBytes, 270);
  EXPECT_EQ(c.blocks[1].keptBytes, 70);
  EXPECT_EQ(c.droppedBytes, 100 + 200);
  EXPECT_EQ(c.rematerialisedBytes, 200);  // the larger block's, alive again in its backward
  EXPECT_EQ(c.predictedPeak, 420 - 300 + 200);
  EXPECT_DOUBLE_EQ(c.recomputeSeconds, 50e-9);
  EXPECT_DOUBLE_EQ(c.stepSeconds, 300e-9);
  // No repeated module in the norm trace: not found, with the reason.
  const auto none = priceCheckpointing(normSiteTrace(), analyseTrace(normSiteTrace()));
  EXPECT_FALSE(none.found);
  EXPECT_NE(none.why.find("no repeated module"), std::string::npos);
}

// Two runs of one step whose phases took different numbers of events (and any wall time): on the
// phase-aligned axis each phase boundary falls on the same x, and a point halfway through a phase at the same
// fraction.
TEST(TimelineSeries, PhaseAlignedRunsOfDifferentLengthsShareTheAxis) {
  const std::vector<PhaseMark> shortRun = {
      {Phase::kForward, 0, 0}, {Phase::kBackward, 10, 5}, {Phase::kOptimizer, 20, 9}};
  const std::vector<PhaseMark> longRun = {
      {Phase::kForward, 0, 0}, {Phase::kBackward, 100, 800}, {Phase::kOptimizer, 400, 9000}};
  EXPECT_DOUBLE_EQ(phaseAlignedX(shortRun, 10, 30), 1.0);
  EXPECT_DOUBLE_EQ(phaseAlignedX(longRun, 100, 500), 1.0);
  EXPECT_DOUBLE_EQ(phaseAlignedX(shortRun, 5, 30), 0.5);
  EXPECT_DOUBLE_EQ(phaseAlignedX(longRun, 50, 500), 0.5);
  EXPECT_DOUBLE_EQ(phaseAlignedX(shortRun, 15, 30), 1.5);
  EXPECT_DOUBLE_EQ(phaseAlignedX(longRun, 250, 500), 1.5);
  // The last phase runs to the end of the timeline.
  EXPECT_DOUBLE_EQ(phaseAlignedX(shortRun, 25, 30), 2.5);
  EXPECT_DOUBLE_EQ(phaseAlignedX(longRun, 450, 500), 2.5);
  EXPECT_DOUBLE_EQ(phaseAlignedX(shortRun, -1, 30), 0.0);
  EXPECT_DOUBLE_EQ(phaseAlignedX({}, 7, 30), 0.0);
  // A whole hand-built run: x climbs from 0 to the number of phases and the peak keeps its total.
  const auto t = testing::normSiteTrace();
  const auto p = analyseTrace(t);
  const auto points = phaseAlignedTimeline(t, p);
  ASSERT_FALSE(points.empty());
  double last = -1;
  int64_t highest = 0;
  for (const auto& point : points) {
    EXPECT_GE(point.x, last);
    last = point.x;
    highest = std::max(highest, point.total);
  }
  EXPECT_LE(last, static_cast<double>(t.phases.size()));
  EXPECT_EQ(highest, p.peak().total);
}

}  // namespace
}  // namespace lowmem
