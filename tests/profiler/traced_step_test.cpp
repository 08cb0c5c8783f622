// The tracer and the analysis on a hand-built model, x -> linear -> gelu -> linear -> sum, whose activations
// are computed by hand from the shapes: each activation's bytes, allocating op, holder and category, the
// baseline, and the peak against an independent replay of the reporter's raw stream.

#include <gtest/gtest.h>
#include <torch/script.h>

#include <map>
#include <sstream>

#include "core/checkpoint_pricing.h"
#include "core/error.h"
#include "core/module_path.h"
#include "core/peak_breakdown.h"
#include "core/profile.h"
#include "core/storage_tensors.h"
#include "models/families.h"
#include "profiler/training_step.h"

namespace lowmem {
namespace {

constexpr int64_t B = 16, D = 24, H = 4096, O = 8;  // H >> D, O: the two [B, H] activations dominate

torch::jit::Module handBuilt() {
  torch::jit::Module m("HandBuilt");
  m.register_parameter("w1", at::randn({H, D}) * 0.1, false);
  m.register_parameter("b1", at::randn({H}) * 0.1, false);
  m.register_parameter("w2", at::randn({O, H}) * 0.01, false);
  m.register_parameter("b2", at::randn({O}) * 0.1, false);
  m.define(R"(
def forward(self, x):
    h = torch.linear(x, self.w1, self.b1)
    return torch.linear(torch.gelu(h), self.w2, self.b2)
)");
  return m;
}

// The total after every event, replayed from the raw allocation stream alone, starting from the baseline.
int64_t replayPeak(const Trace& t, int64_t baseline) {
  std::map<uint64_t, int64_t> live;
  int64_t total = baseline, peak = baseline;
  for (const auto& k : t.known) {
    if (k.preexisting) live[k.addr] = k.bytes;
  }
  for (const auto& e : t.memory) {
    if (e.bytes > 0) {
      live[e.addr] = e.bytes;
      total += e.bytes;
    } else if (auto it = live.find(e.addr); it != live.end()) {
      total -= it->second;
      live.erase(it);
    }
    peak = std::max(peak, total);
  }
  return peak;
}

TEST(TracedStep, HandBuiltModelActivationsToTheByte) {
  auto m = handBuilt();
  auto x = at::randn({B, D});
  StepOptions o;
  o.trainable = TrainableSelection::parse("all");
  o.loss = LossKind::kSum;
  auto step = traceTrainingStep(m, {x}, o);
  auto p = analyseTrace(step.trace);
  const auto& t = step.trace;

  // Baseline: the four parameters and the input, nothing else (plain SGD keeps no state).
  EXPECT_EQ(p.baselineBytes, (H * D + H + O * H + O + B * D) * 4);

  std::vector<const StorageLife*> activations;
  for (const auto& s : p.storages) {
    if (s.category == Category::kActivation) activations.push_back(&s);
  }
  ASSERT_EQ(activations.size(), 2u) << "expected h = linear(x) and g = gelu(h)";
  auto name = [&](int32_t op) {
    return op >= 0 ? t.str(t.ops[static_cast<size_t>(op)].name) : std::string("-");
  };
  // h: [B, H] fp32, allocated by linear (its addmm), saved by GeluBackward0.
  EXPECT_EQ(activations[0]->bytes, B * H * 4);
  EXPECT_EQ(name(activations[0]->holderOp), "GeluBackward0");
  EXPECT_EQ(name(activations[0]->holderForwardOp), "aten::gelu");
  EXPECT_NE(p.reasonOf(*activations[0]).find("aten::linear"), std::string::npos)
      << p.reasonOf(*activations[0]);
  // g: [B, H] fp32, allocated by gelu, saved by the second linear's AddmmBackward0.
  EXPECT_EQ(activations[1]->bytes, B * H * 4);
  EXPECT_EQ(name(activations[1]->holderOp), "AddmmBackward0");
  EXPECT_EQ(name(activations[1]->holderForwardOp), "aten::addmm");
  EXPECT_NE(p.reasonOf(*activations[1]).find("aten::gelu"), std::string::npos) << p.reasonOf(*activations[1]);
  EXPECT_EQ(p.activationBytes, 2 * B * H * 4);

  // Gradients of all four parameters, identified by their storages after the step.
  int64_t gradientBytes = 0;
  for (const auto& s : p.storages) {
    if (s.category == Category::kGradient) gradientBytes += s.bytes;
  }
  EXPECT_EQ(gradientBytes, (H * D + H + O * H + O) * 4);

  // The peak, by hand. It sits in the second linear's AddmmBackward0, while both activations are still held:
  //   baseline + h + g (2·B·H·4) + output (B·O·4) + loss (4) + backward's seed ones (4)
  //   + grad of g (B·H·4, mm) + grad of w2 (O·H·4, mm)
  //   + the contiguous copy of the expanded sum gradient that LibTorch 1.13's mm makes for its second product
  //     (B·O·4, freed right after).
  const int64_t handPeak =
      p.baselineBytes + 2 * B * H * 4 + B * O * 4 + 4 + 4 + B * H * 4 + O * H * 4 + B * O * 4;
  EXPECT_EQ(p.peak().total, handPeak);
  // The timeline's peak is the raw stream's peak, and the running total ends where the storages say.
  EXPECT_EQ(p.peak().total, replayPeak(t, p.baselineBytes));
  EXPECT_GE(p.peak().total, p.baselineBytes + p.activationBytes);
  int64_t aliveAtEnd = 0;
  for (const auto& s : p.storages) {
    if (s.freeSeq < 0) aliveAtEnd += s.bytes;
  }
  EXPECT_EQ(p.timeline.back().total, aliveAtEnd);
  int64_t sumByCategory = 0;
  for (auto b : p.peak().byCategory)
    sumByCategory += b;
  EXPECT_EQ(sumByCategory, p.peak().total);
}

// Two blocks, x -> [linear -> gelu -> linear] -> [linear -> gelu -> linear] -> sum: checkpointing each block
// would drop its two [B, H] activations and keep block_0's output (block_1's input); block_1's output is the
// model's output, not an activation.
TEST(CheckpointPricing, TwoBlocksDropWhatTheirForwardKeptButTheirInputs) {
  // A large batch: the activations, not the parameters' gradients, make the peak.
  constexpr int64_t B = 256, D = 24, H = 1024;
  torch::jit::Module m("TwoBlocks");
  for (int i = 0; i < 2; ++i) {
    torch::jit::Module block("Block" + std::to_string(i));
    block.register_parameter("w1", at::randn({H, D}) * 0.1, false);
    block.register_parameter("w2", at::randn({D, H}) * 0.01, false);
    block.define(
        "def forward(self, x):\n    return torch.linear(torch.gelu(torch.linear(x, self.w1)), self.w2)\n");
    m.register_module("block_" + std::to_string(i), block);
  }
  m.define("def forward(self, x):\n    return self.block_1.forward(self.block_0.forward(x))\n");
  StepOptions o;
  o.trainable = TrainableSelection::parse("all");
  o.loss = LossKind::kSum;
  auto step = traceTrainingStep(m, {at::randn({B, D})}, o);
  const auto p = analyseTrace(step.trace);
  const int64_t hidden = B * H * 4, out = B * D * 4;
  // The peak is in block_1's last backward node, with every activation still held.
  ASSERT_EQ(p.peak().byCategory[static_cast<size_t>(Category::kActivation)], 4 * hidden + out);

  const auto c = priceCheckpointing(step.trace, p);
  ASSERT_TRUE(c.found) << c.why;
  EXPECT_EQ(c.level, "block_*");
  ASSERT_EQ(c.blocks.size(), 2u);
  EXPECT_EQ(c.blocks[0].module, "block_0");
  EXPECT_EQ(c.blocks[0].activationBytes, 2 * hidden + out);
  EXPECT_EQ(c.blocks[0].keptBytes, out);
  EXPECT_EQ(c.blocks[1].module, "block_1");
  EXPECT_EQ(c.blocks[1].activationBytes, 2 * hidden);
  EXPECT_EQ(c.blocks[1].keptBytes, 0);
  EXPECT_EQ(c.droppedBytes, 4 * hidden);
  EXPECT_EQ(c.rematerialisedBytes, 2 * hidden);
  EXPECT_EQ(c.predictedPeak, p.peak().total - 2 * hidden);
  for (const auto& b : c.blocks)
    EXPECT_GT(b.forwardSeconds, 0);
  // Each block's forward is a window of the step's own clock, and the windows do not overlap: the call of
  // block_1's forward is block_1's (LibTorch 1.13's interpreter reports the previous call's instance when a
  // call begins; the tracer names a call by what it ran).
  EXPECT_LE(c.blocks[0].forwardSeconds + c.blocks[1].forwardSeconds, c.stepSeconds);
  int blockCalls = 0;
  for (const auto& op : step.trace.ops) {
    if (op.parent < 0) continue;
    const auto& call = step.trace.ops[static_cast<size_t>(op.parent)];
    if (call.scope != OpScope::kTorchScript) continue;
    const std::string callModule = step.trace.str(call.module), opModule = step.trace.str(op.module);
    EXPECT_TRUE(isWithin(opModule, callModule)) << opModule << " ran inside a call named " << callModule;
    blockCalls += op.scope == OpScope::kFunction && opModule == callModule && !callModule.empty();
  }
  EXPECT_GT(blockCalls, 0);
}

TEST(CheckpointPricing, NoRepeatedModuleIsSaidSo) {
  auto m = handBuilt();
  StepOptions o;
  o.trainable = TrainableSelection::parse("all");
  o.loss = LossKind::kSum;
  auto step = traceTrainingStep(m, {at::randn({B, D})}, o);
  const auto c = priceCheckpointing(step.trace, analyseTrace(step.trace));
  EXPECT_FALSE(c.found);
  EXPECT_NE(c.why.find("no repeated module"), std::string::npos) << c.why;
}

TEST(TracedStep, AdamWStateIsKnownAndNonScalarOutputNeedsALossMode) {
  auto m = handBuilt();
  auto x = at::randn({B, D});
  StepOptions o;
  o.trainable = TrainableSelection::parse("^w");
  o.optimizer = OptimizerKind::kAdamW;
  auto p = analyseTrace(traceTrainingStep(m, {x}, o).trace);
  int64_t state = 0;
  for (const auto& s : p.storages) {
    if (s.category == Category::kOptimizerState) state += s.bytes;
  }
  // exp_avg and exp_avg_sq for w1 and w2 (amsgrad off: max_exp_avg_sq stays empty).
  EXPECT_EQ(state, 2 * (H * D + O * H) * 4);

  o.loss = LossKind::kOutput;
  EXPECT_THROW(traceTrainingStep(m, {x}, o), InputError);
}

}  // namespace
}  // namespace lowmem

namespace lowmem {
namespace {

// vit-tiny with LoRA: the activations each GELU and LayerNorm site keeps, from its shapes.
TEST(TracedStep, VitTinyActivationsPerSite) {
  const auto c = models::vitTiny();
  auto m = models::buildVit(c, {});
  const int64_t batch = 2, T = c.tokens(), Dm = c.hidden, M = c.mlpDim;
  auto x = at::randn({batch, c.channels, c.imageSize, c.imageSize});
  StepOptions o;
  o.trainable = TrainableSelection::parse("lora");
  auto step = traceTrainingStep(m, {x}, o);
  auto p = analyseTrace(step.trace);
  const auto& t = step.trace;

  // Activation bytes by (holder node, forward op's module).
  std::map<std::pair<std::string, std::string>, int64_t> held;
  for (const auto& s : p.storages) {
    if (s.category != Category::kActivation || s.holderOp < 0 || s.holderForwardOp < 0) continue;
    const auto& fwd = t.ops[static_cast<size_t>(s.holderForwardOp)];
    held[{t.str(t.ops[static_cast<size_t>(s.holderOp)].name), t.str(fwd.module)}] += s.bytes;
  }
  for (int64_t i = 0; i < c.layers; ++i) {
    const std::string block = "encoder.layer_" + std::to_string(i);
    // GELU keeps its input, fc1's output: [B, T, M] fp32.
    EXPECT_EQ((held[{"GeluBackward0", block + ".mlp"}]), batch * T * M * 4) << block;
    // LayerNorm keeps its input [B, T, D] and fp32 mean and rstd per row. The first norm's input comes from
    // frozen embeddings and needs no gradient, so it keeps nothing (paper.md §4).
    const int64_t ln = batch * T * Dm * 4 + 2 * batch * T * 4;
    EXPECT_EQ((held[{"NativeLayerNormBackward0", block + ".norm1"}]), i == 0 ? 0 : ln) << block;
    EXPECT_EQ((held[{"NativeLayerNormBackward0", block + ".norm2"}]), ln) << block;
  }
  EXPECT_EQ((held[{"NativeLayerNormBackward0", "norm"}]), batch * T * Dm * 4 + 2 * batch * T * 4);
  EXPECT_EQ(p.peak().total, replayPeak(t, p.baselineBytes));
  EXPECT_EQ(p.untrackedFrees, 0);

  // What is alive at the peak, grouped three ways, adds up to the peak each time.
  const auto breakdown = peakBreakdown(t, p);
  for (const auto* rows : {&breakdown.byCategory, &breakdown.byModule, &breakdown.byOp}) {
    int64_t sum = 0;
    for (const auto& row : *rows)
      sum += row.second;
    EXPECT_EQ(sum, p.peak().total);
  }
  // Without --record-shapes no op carries shapes (RecordFunction does not copy inputs).
  for (const auto& op : t.ops)
    ASSERT_EQ(op.inputShapes, 0);
}

TEST(TracedStep, RecordsInputShapesWhenAsked) {
  const auto c = models::vitTiny();
  auto m = models::buildVit(c, {});
  StepOptions o;
  o.trainable = TrainableSelection::parse("lora");
  o.recordShapes = true;
  const auto step = traceTrainingStep(m, {at::randn({2, c.channels, c.imageSize, c.imageSize})}, o);
  const auto& t = step.trace;
  const std::string patch = std::to_string(c.patchSize);
  const std::string expected = "[2," + std::to_string(c.channels) + "," + std::to_string(c.imageSize) + "," +
                               std::to_string(c.imageSize) + "] [" + std::to_string(c.hidden) + "," +
                               std::to_string(c.channels) + "," + patch + "," + patch + "] [" +
                               std::to_string(c.hidden) + "]";
  int conv = 0;
  for (const auto& op : t.ops) {
    if (t.str(op.name) != "aten::conv2d") continue;
    ++conv;
    EXPECT_EQ(t.str(op.inputShapes).rfind(expected, 0), 0u) << t.str(op.inputShapes);
  }
  EXPECT_EQ(conv, 1);
  // Backward nodes and TorchScript frames carry none.
  for (const auto& op : t.ops) {
    if (op.scope != OpScope::kFunction) {
      ASSERT_EQ(op.inputShapes, 0) << t.str(op.name);
    }
  }
  // Every activation holds a tensor an op returned, and that tensor fits in it; the conv returns the patch
  // grid.
  const auto p = analyseTrace(t);
  const auto tensors = storageTensors(t, p);
  const std::string grid = std::to_string(c.imageSize / c.patchSize);
  int activations = 0;
  for (size_t s = 0; s < p.storages.size(); ++s) {
    const auto& st = p.storages[s];
    if (st.category != Category::kActivation) continue;
    ++activations;
    ASSERT_GE(tensors[s], 0) << p.reasonOf(st);
    const auto& out = t.outputs[static_cast<size_t>(tensors[s])];
    int64_t numel = 1;
    std::istringstream dims(t.str(out.shape).substr(1));
    for (int64_t d = 0; dims >> d; dims.ignore(1))
      numel *= d;
    EXPECT_EQ(t.str(out.dtype), "float32");
    EXPECT_LE(numel * 4, st.bytes) << t.str(out.shape) << " in " << st.bytes << " bytes";
  }
  EXPECT_GT(activations, 0);
  int convOutputs = 0;
  for (const auto& out : t.outputs) {
    if (t.opName(out.op) != "aten::conv2d") continue;
    ++convOutputs;
    EXPECT_EQ(t.str(out.shape), "[2," + std::to_string(c.hidden) + "," + grid + "," + grid + "]");
  }
  EXPECT_EQ(convOutputs, 1);
  // Allocation helpers return no recorded tensors.
  for (const auto& out : t.outputs)
    EXPECT_FALSE(isAllocationHelper(t.opName(out.op))) << t.opName(out.op);
}

// Out of memory inside the model is the step's size, not a bug in the model: exit code 2 and what to change.
TEST(TracedStep, OutOfMemoryInForwardIsABadInput) {
  torch::jit::Module m("Greedy");
  m.register_parameter("w", at::ones({4}), false);
  m.define(R"(
def forward(self, x):
    big = torch.empty([1 << 46])
    return x * self.w + big[0]
)");
  StepOptions o;
  o.trainable = TrainableSelection::parse("all");
  for (int warmup : {1, 0}) {
    o.warmupSteps = warmup;
    try {
      traceTrainingStep(m, {at::randn({4})}, o);
      FAIL() << "expected an out-of-memory error";
    } catch (const Error& e) {
      EXPECT_EQ(e.exitCode(), ExitCode::kBadInput) << e.what();
      EXPECT_NE(std::string(e.what()).find("out of memory in"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("reduce the batch"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace lowmem

namespace lowmem {
namespace {

// Cross-entropy against a synthetic target: the target is drawn once, before tracing, and counts as an input.
TEST(TracedStep, CrossEntropyTargetIsAKnownInput) {
  const auto c = models::llamaTiny();
  auto m = models::buildLlama(c, {});
  const int64_t batch = 2, seq = 16;
  auto ids = at::randint(0, c.vocab, {batch, seq}, at::kLong);
  int64_t paramBytes = 0;
  for (const auto& p : m.parameters())
    paramBytes += p.numel() * 4;
  int64_t bufferBytes = 0;
  for (const auto& b : m.buffers())
    bufferBytes += static_cast<int64_t>(b.storage().nbytes());
  for (int warmup : {0, 1}) {
    StepOptions o;
    o.trainable = TrainableSelection::parse("lora");
    o.loss = LossKind::kCrossEntropy;
    o.warmupSteps = warmup;
    auto p = analyseTrace(traceTrainingStep(m, {ids}, o).trace);
    // Parameters, buffers (RoPE tables and masks), the token ids, and one int64 target per position.
    EXPECT_EQ(p.baselineBytes, paramBytes + bufferBytes + batch * seq * 8 + batch * seq * 8) << warmup;
    EXPECT_GT(p.activationBytes, 0);
  }
  StepOptions bad;
  bad.loss = LossKind::kCrossEntropy;
  auto scalar = handBuilt();
  // A 1-D output has no class dimension.
  EXPECT_THROW(traceTrainingStep(scalar, {at::randn({D})}, bad), InputError);
}

}  // namespace
}  // namespace lowmem
