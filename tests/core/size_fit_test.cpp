// Memory at untraced sizes: hand-built traces whose bytes follow known formulas in batch and sequence, fitted
// and predicted, and the traces that cannot be fitted refused with the reason.

#include "core/size_fit.h"

#include <gtest/gtest.h>

#include <functional>

#include "core/profile.h"
#include "core/state_sharding.h"

namespace lowmem {
namespace {

// A step whose input is `input` bytes (alive before it), whose forward keeps an activation of `act` bytes
// until backward and makes a temporary of `temp` bytes, and whose parameter (400 bytes) gets a gradient.
Trace stepWith(int64_t input, int64_t act, int64_t temp) {
  Trace t;
  StringInterner in(t.strings);
  t.phases = {{Phase::kForward, 0, 0}, {Phase::kBackward, 10, 100}, {Phase::kAfter, 20, 200}};
  const auto fn = OpScope::kFunction;
  t.ops = {{in.intern("aten::gelu"), fn, Phase::kForward, 1, in.intern("mlp"), -1, 1, 4, 10, 40},
           {in.intern("aten::mul"), fn, Phase::kForward, 2, 0, -1, 5, 8, 50, 80},
           {in.intern("GeluBackward0"), OpScope::kBackward, Phase::kBackward, 1, 0, -1, 11, 16, 110, 160}};
  t.known = {{0x10, 400, KnownRole::kParameter, in.intern("w"), true},
             {0x20, input, KnownRole::kInput, in.intern("x"), true},
             {0x40, 400, KnownRole::kGradient, in.intern("w.grad"), false}};
  t.memory = {{2, 20, 0x30, act, 0, -1},
              {6, 60, 0x50, temp, 1, -1},
              {7, 70, 0x50, -temp, 1, -1},
              {12, 120, 0x40, 400, 2, -1},
              {15, 150, 0x30, -act, 2, -1}};
  return t;
}

TEST(SizeFit, BatchLinearBytesArePredictedExactlyWithTheirPeak) {
  // input 96 b, activation 64 + 1000 b, temporary 2000 b: at batch 16 the peak is in forward, at batch 1 ...
  const auto at = [](int64_t b) { return stepWith(96 * b, 64 + 1000 * b, 2000 * b); };
  SizeFit fit({{{1, 0}, at(1)}, {{2, 0}, at(2)}, {{4, 0}, at(4)}});
  EXPECT_EQ(fit.terms(), (std::vector<std::string>{"1", "b"}));
  EXPECT_EQ(fit.worstResidualBytes(), 0);  // three sizes, two terms: a check that passed
  for (int64_t b : {3, 8, 16, 100}) {
    const Trace predicted = fit.at({b, 0});
    const Trace measured = at(b);
    ASSERT_EQ(predicted.memory.size(), measured.memory.size());
    for (size_t i = 0; i < measured.memory.size(); ++i)
      EXPECT_EQ(predicted.memory[i].bytes, measured.memory[i].bytes) << "batch " << b << " event " << i;
    EXPECT_EQ(analyseTrace(predicted).peak().total, analyseTrace(measured).peak().total) << "batch " << b;
    // By hand: parameter 400 + input 96b + activation (64 + 1000b) + temporary 2000b.
    EXPECT_EQ(analyseTrace(predicted).peak().total, 400 + 96 * b + 64 + 1000 * b + 2000 * b);
  }
  EXPECT_THROW(fit.at({4, 128}), std::invalid_argument);  // the sequence never varied
}

TEST(SizeFit, AttentionLikeBytesFitInSequenceAndInBoth) {
  // Per sample: probabilities 4 s² (the attention term), hidden states 64 s; a position table 32 s shared by
  // the batch; 100 bytes of constant.
  const auto bytes = [](int64_t b, int64_t s) { return 100 + 32 * s + b * (64 * s + 4 * s * s); };
  const auto at = [&](int64_t b, int64_t s) { return stepWith(8 * b * s, bytes(b, s), 16 * b * s); };
  SizeFit seqOnly({{{2, 64}, at(2, 64)}, {{2, 128}, at(2, 128)}, {{2, 256}, at(2, 256)}});
  EXPECT_EQ(seqOnly.terms(), (std::vector<std::string>{"1", "s", "s²"}));
  EXPECT_EQ(seqOnly.at({2, 512}).memory[0].bytes, bytes(2, 512));
  EXPECT_THROW(seqOnly.at({4, 512}), std::invalid_argument);
  SizeFit both({{{1, 32}, at(1, 32)},
                {{1, 64}, at(1, 64)},
                {{1, 128}, at(1, 128)},
                {{2, 32}, at(2, 32)},
                {{2, 64}, at(2, 64)},
                {{4, 128}, at(4, 128)}});
  EXPECT_EQ(both.worstResidualBytes(), 0);
  for (const auto& [b, s] : std::vector<std::pair<int64_t, int64_t>>{{8, 512}, {16, 2048}, {3, 100}}) {
    const Trace t = both.at({b, s});
    EXPECT_EQ(t.memory[0].bytes, bytes(b, s)) << b << "," << s;
    EXPECT_EQ(t.memory[4].bytes, -bytes(b, s));  // the free gives back what the allocation took
    EXPECT_EQ(t.known[1].bytes, 8 * b * s);
  }
}

TEST(SizeFit, WhatCannotBeFittedIsRefusedWithTheReason) {
  const auto at = [](int64_t b) { return stepWith(96 * b, 64 + 1000 * b, 2000 * b); };
  const auto refusal = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(refusal([&] { SizeFit({{{1, 0}, at(1)}}); }), "a fit needs steps traced at two sizes or more");
  EXPECT_EQ(refusal([&] {
              SizeFit({{{2, 0}, at(1)}, {{2, 0}, at(2)}});
            }),
            "every step was traced at batch 2: nothing to fit");
  // One more allocation at the larger size: no event-by-event fit.
  auto extra = at(2);
  extra.memory.push_back({30, 300, 0x60, 8, -1, -1});
  EXPECT_NE(refusal([&] {
              SizeFit({{{1, 0}, at(1)}, {{2, 0}, extra}});
            }).find("allocations change with the size"),
            std::string::npos);
  // The same count, another op: the first difference is named.
  auto other = at(2);
  other.memory[1].op = 0;
  EXPECT_NE(refusal([&] {
              SizeFit({{{1, 0}, at(1)}, {{2, 0}, other}});
            }).find("(event 1, in aten::gelu at batch 2, aten::mul at batch 1)"),
            std::string::npos);
  // Bytes that do not follow the terms show as a residual, never as silence (least squares spreads the
  // 4 KiB over the three sizes).
  auto odd = at(4);
  odd.memory[0].bytes += 4096;
  odd.memory[4].bytes -= 4096;
  EXPECT_GT(SizeFit({{{1, 0}, at(1)}, {{2, 0}, at(2)}, {{4, 0}, odd}}).worstResidualBytes(), 200);
}

TEST(StateSharding, ParametersGradientsAndOptimizerStateAreSplitActivationsAreNot) {
  // stepWith: parameter 400 (before the step), gradient 400 (made in backward), input 96, activation 1064,
  // temporary 2000. Over 4 ranks the parameter and its gradient are 100 each; nothing else changes.
  const Trace t = stepWith(96, 1064, 2000);
  const Profile p = analyseTrace(t);
  const Trace sharded = shardedState(t, p, 4);
  const Profile q = analyseTrace(sharded);
  EXPECT_EQ(q.baselineBytes, p.baselineBytes - 300);
  // The peak (forward: parameter, input, activation, temporary) loses 300 bytes of parameter.
  EXPECT_EQ(q.peak().total, p.peak().total - 300);
  EXPECT_EQ(sharded.memory[3].bytes, 100);   // the gradient's allocation
  EXPECT_EQ(sharded.memory[0].bytes, 1064);  // the activation, whole
  EXPECT_EQ(analyseTrace(shardedState(t, p, 1)).peak().total, p.peak().total);
  // Rounded up: 400 over 3 ranks is 134 a rank.
  EXPECT_EQ(analyseTrace(shardedState(t, p, 3)).baselineBytes, p.baselineBytes - 400 + 134);
}

}  // namespace
}  // namespace lowmem
