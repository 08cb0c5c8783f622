// lowmem::attention against the unfused ATen chain softmax(q kᵀ · scale (+ causal mask)) v, forward+backward
// in one run, at ViT-B/16 and LLaMA shapes, fp32 and bf16, with and without dropout on the probabilities
// (0.1, as BERT and GPT-2 train), with the bytes each keeps for backward (measured).
//
//   attention_bench          full shapes: ViT-B/16 (batch 4, 12 heads, s 197, d 64), LLaMA (8 heads, d 64,
//                            s 512 and 2,048, causal), Swin-T's first stage (256 windows of 49 tokens,
//                            3 heads of 32, its bias and window mask)
//   attention_bench --ci     small shapes, short runs: the form CTest runs
// Google Benchmark flags pass through; the summary prints time ratios (lowmem / ATen) and saved bytes.

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/script.h>

#include <cmath>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <map>
#include <thread>

#include "bench/bench_common.h"
#include "kernels/ops_library.h"
#include "tests/support/memory_counter.h"

namespace {

struct Shape {
  std::string name;
  int64_t batch, heads, seq, dim;
  bool causal;
  // Heads as model code makes them: projections [B, S, H, D] seen transposed, the output merged back with
  // transpose(1, 2).reshape(B, S, H·D), as the patched models run the op.
  bool fromProjection = false;
  double dropout = 0;  // on the probabilities, in training
  // Swin's shifted windows: `batch` is images × windows, the scores take a learned bias [1, H, s, s] and a
  // window mask [1, windows, 1, s, s] added to them viewed [images, windows, H, s, s]; 0: none.
  int64_t windows = 0;
};

at::Tensor ours(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal, double dropout,
                const c10::optional<at::Tensor>& mask = c10::nullopt) {
  static const auto op =
      c10::Dispatcher::singleton()
          .findSchemaOrThrow("lowmem::attention", "")
          .typed<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                            const c10::optional<at::Tensor>&, c10::optional<double>, bool, double)>();
  return op.call(q, k, v, mask, c10::nullopt, causal, dropout);
}

// The chain as HF eager attention writes it.
at::Tensor unfused(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal,
                   double dropout) {
  auto s = at::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(q.size(-1)));
  if (causal) {
    const auto drop = at::ones({q.size(-2), k.size(-2)}, at::kBool).triu(1);
    s = s.masked_fill(drop, -INFINITY);
  }
  return at::matmul(at::dropout(at::softmax(s, -1, at::kFloat).to(q.scalar_type()), dropout, true), v);
}

// Swin's chain (torchvision's shifted_window_attention) and the op as the patched model calls it: q, k, v
// viewed with the batch split, the two masks summed.
at::Tensor windowed(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& bias,
                    const at::Tensor& window, bool mine) {
  const int64_t windows = window.size(1), images = q.size(0) / windows;
  if (mine) {
    const auto split = [&](const at::Tensor& t) { return t.unflatten(0, {images, windows}); };
    return ours(split(q), split(k), split(v), false, 0, window + bias).flatten(0, 1);
  }
  auto s = at::matmul(q * (1 / std::sqrt(static_cast<double>(q.size(-1)))), k.transpose(-2, -1)) + bias;
  s = (s.view({images, windows, q.size(1), q.size(2), k.size(2)}) + window)
          .view({-1, q.size(1), q.size(2), k.size(2)});
  return at::matmul(at::softmax(s, -1), v);
}

struct Row {
  double atenMs = 0, oursMs = 0;
  int64_t atenSaved = 0, oursSaved = 0;
};
std::map<std::string, Row> gRows;

struct Inputs {
  at::Tensor q, k, v, g;  // leaves
  bool fromProjection;
  at::Tensor bias, window;  // Swin's masks (frozen), undefined without windows
  at::Tensor heads(const at::Tensor& leaf) const { return fromProjection ? leaf.transpose(1, 2) : leaf; }
};

Inputs inputs(const Shape& s, at::ScalarType dtype) {
  const std::vector<int64_t> dims = s.fromProjection ? std::vector<int64_t>{s.batch, s.seq, s.heads, s.dim}
                                                     : std::vector<int64_t>{s.batch, s.heads, s.seq, s.dim};
  const auto leaf = [&](double sd) { return (at::randn(dims) * sd).to(dtype).requires_grad_(); };
  auto g = at::randn(dims).to(dtype);
  if (s.fromProjection) g = g.reshape({s.batch, s.seq, s.heads * s.dim});
  Inputs in{leaf(1), leaf(1), leaf(1), g, s.fromProjection, {}, {}};
  if (s.windows > 0) {
    in.bias = at::randn({1, s.heads, s.seq, s.seq}).to(dtype);
    // A shifted window's mask: -100 between the regions the shift brought together (torchvision's value).
    in.window = at::where(at::rand({1, s.windows, 1, s.seq, s.seq}) < 0.25, -100.0, 0.0).to(dtype);
  }
  return in;
}

at::Tensor forward(const Inputs& in, bool mine, const Shape& s) {
  const auto q = in.heads(in.q), k = in.heads(in.k), v = in.heads(in.v);
  auto out = s.windows > 0 ? windowed(q, k, v, in.bias, in.window, mine)
             : mine        ? ours(q, k, v, s.causal, s.dropout)
                           : unfused(q, k, v, s.causal, s.dropout);
  return in.fromProjection ? out.transpose(1, 2).reshape(in.g.sizes()) : out;
}

void step(const Inputs& in, bool mine, const Shape& s) {
  forward(in, mine, s).backward(in.g);
  for (const auto* t : {&in.q, &in.k, &in.v})
    const_cast<at::Tensor&>(*t).mutable_grad().reset();
}

// Bytes alive after forward, beyond the inputs: what the graph keeps for backward (and the output).
int64_t savedBytes(const Shape& s, at::ScalarType dtype, bool mine) {
  const auto in = inputs(s, dtype);
  lowmem::testing::CountingScope scope;
  auto out = forward(in, mine, s);
  return scope.counter().liveBytes();
}

void registerAll(const std::vector<Shape>& shapes) {
  for (const auto& s : shapes) {
    for (auto dtype : {at::kFloat, at::kBFloat16}) {
      const std::string key = s.name + "/" + (dtype == at::kFloat ? "fp32" : "bf16");
      gRows[key] = {0, 0, savedBytes(s, dtype, false), savedBytes(s, dtype, true)};
      for (bool mine : {false, true}) {
        benchmark::RegisterBenchmark((key + (mine ? "/lowmem" : "/aten")).c_str(),
                                     [s, dtype, mine](benchmark::State& state) {
                                       const auto in = inputs(s, dtype);
                                       for (auto _ : state)
                                         step(in, mine, s);
                                     })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  }
}

void printSummary() {
  std::cout << "\nforward+backward, lowmem::attention vs the unfused ATen chain (ratio < 1: lowmem faster)\n"
            << std::left << std::setw(34) << "shape/dtype" << std::right << std::setw(10) << "ATen ms"
            << std::setw(11) << "lowmem ms" << std::setw(8) << "ratio" << std::setw(16) << "kept ATen B"
            << std::setw(16) << "kept lowmem B"
            << "\n";
  for (const auto& [key, r] : gRows) {
    if (r.atenMs <= 0 || r.oursMs <= 0) continue;
    std::cout << std::left << std::setw(34) << key << std::right << std::fixed << std::setprecision(2)
              << std::setw(10) << r.atenMs << std::setw(11) << r.oursMs << std::setw(8) << r.oursMs / r.atenMs
              << std::setw(16) << r.atenSaved << std::setw(16) << r.oursSaved << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  lowmem::kernels::ensureOpsRegistered();
  auto parsed = lowmem::bench::parseArgs(argc, argv);
  std::vector<Shape> shapes;
  if (parsed.ci) {
    shapes = {{"vit 1x2x33x16", 1, 2, 33, 16, false},
              {"vit 1x2x33x16 from projection", 1, 2, 33, 16, false, true},
              {"llama 1x2x64x16 causal", 1, 2, 64, 16, true},
              {"vit 1x2x33x16 dropout 0.1", 1, 2, 33, 16, false, false, 0.1},
              {"swin 4x2x16x8 windows", 4, 2, 16, 8, false, true, 0, 2}};
  } else {
    shapes = {{"vit-b16 4x12x197x64", 4, 12, 197, 64, false},
              {"vit-b16 4x12x197x64 from projection", 4, 12, 197, 64, false, true},
              {"llama 1x8x512x64 causal, from projection", 1, 8, 512, 64, true, true},
              {"llama 1x8x512x64 causal", 1, 8, 512, 64, true},
              {"llama 1x8x2048x64 causal", 1, 8, 2048, 64, true},
              {"vit-b16 4x12x197x64 dropout 0.1", 4, 12, 197, 64, false, false, 0.1},
              {"llama 1x8x512x64 causal, dropout 0.1", 1, 8, 512, 64, true, false, 0.1},
              // Swin-T's first stage at batch 4: 64 windows of 7 × 7 tokens an image, 3 heads of 32.
              {"swin-t 256x3x49x32 windows", 256, 3, 49, 32, false, true, 0, 64}};
  }
  return lowmem::bench::runWithSummary(
      parsed, [&] { registerAll(shapes); },
      [](const std::string& key, const std::string& impl, double ms) {
        auto it = gRows.find(key);
        if (it != gRows.end()) (impl == "aten" ? it->second.atenMs : it->second.oursMs) = ms;
      },
      printSummary);
}
