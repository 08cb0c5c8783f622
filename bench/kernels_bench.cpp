// Forward+backward time of each lowmem op against ATen's equivalent at transformer shapes, the effective
// bandwidth against a memcpy of the same bytes, and the bytes each keeps for backward, all in one run.
//
//   kernels_bench            full shapes (ViT-B/16 and LLaMA-7B-like), fp32 and bf16
//   kernels_bench --ci       small shapes, short runs: the form CTest runs
//   kernels_bench --benchmark_repetitions=5   the summary then uses each benchmark's median
// Google Benchmark flags (--benchmark_filter=..., --benchmark_min_time=...) pass through.

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/script.h>

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
  std::vector<int64_t> dims;
};

struct OpCase {
  std::string name;  // "gelu"
  bool norm;         // normalises the last dimension
  std::function<at::Tensor(const at::Tensor&)> ours;
  std::function<at::Tensor(const at::Tensor&)> aten;
};

template <typename Sig>
c10::TypedOperatorHandle<Sig> lowmemOp(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Sig>();
}

std::vector<OpCase> opCases() {
  using Unary = at::Tensor(const at::Tensor&);
  using Norm = at::Tensor(const at::Tensor&, at::IntArrayRef, double);
  static const auto regelu2 = lowmemOp<Unary>("lowmem::regelu2");
  static const auto resilu2 = lowmemOp<Unary>("lowmem::resilu2");
  static const auto msLn = lowmemOp<Norm>("lowmem::ms_layer_norm");
  static const auto msRms = lowmemOp<Norm>("lowmem::ms_rms_norm");
  return {
      {"gelu", false, [](const at::Tensor& x) { return regelu2.call(x); },
       [](const at::Tensor& x) { return at::gelu(x); }},
      {"silu", false, [](const at::Tensor& x) { return resilu2.call(x); },
       [](const at::Tensor& x) { return at::silu(x); }},
      {"layer_norm", true, [](const at::Tensor& x) { return msLn.call(x, {x.size(-1)}, 1e-5); },
       [](const at::Tensor& x) { return at::layer_norm(x, {x.size(-1)}, {}, {}, 1e-5); }},
      {"rms_norm", true, [](const at::Tensor& x) { return msRms.call(x, {x.size(-1)}, 1e-6); },
       [](const at::Tensor& x) {
         // The HF chain as real models run it, with the fp32 upcast.
         auto h = x.to(at::kFloat);
         return (h * at::rsqrt(h.pow(2).mean(-1, true) + 1e-6)).to(x.scalar_type());
       }},
  };
}

// The bytes our fwd+bwd must move at the least: the roofline the bandwidth figure is measured against.
int64_t minimalTraffic(const OpCase& op, int64_t n, int64_t rows, int64_t elem) {
  if (!op.norm) return 4 * n * elem + 2 * ((n + 3) / 4);  // fwd: x, y, codes; bwd: g, codes, dx
  return 5 * n * elem + 8 * rows;                         // fwd: x, y, rstd; bwd: g, y, rstd, dx
}

struct Row {
  std::string op, shape, dtype;
  double atenMs = 0, oursMs = 0, memcpyMs = 0;
  int64_t traffic = 0;
  int64_t atenSaved = -1, oursSaved = -1;
};
std::map<std::string, Row> gRows;

void runStep(const OpCase& op, bool ours, const at::Tensor& x, const at::Tensor& g) {
  auto xg = x.detach().requires_grad_();
  auto y = ours ? op.ours(xg) : op.aten(xg);
  y.backward(g);
  benchmark::DoNotOptimize(xg.grad().data_ptr());
}

// Bytes the autograd graph keeps beyond the output. The op's input is an activation (a non-leaf made inside
// the counting scope and dropped by the caller), so it counts exactly when the graph saves it; the leaf it
// comes from is allocated outside the scope.
int64_t savedBytes(const OpCase& op, bool ours, const std::vector<int64_t>& dims, at::ScalarType dtype) {
  auto leaf = at::randn(dims, at::TensorOptions().dtype(dtype)).requires_grad_();
  lowmem::testing::CountingScope scope;
  at::Tensor y;
  {
    auto x = leaf * 2;  // MulBackward with a scalar saves nothing of x or leaf
    y = ours ? op.ours(x) : op.aten(x);
  }
  return scope.counter().liveBytes() - static_cast<int64_t>(y.storage().nbytes());
}

const char* dtypeName(at::ScalarType t) {
  return t == at::kBFloat16 ? "bf16" : "fp32";
}

void registerAll(const std::vector<Shape>& shapes) {
  for (const auto& op : opCases()) {
    for (const auto& shape : shapes) {
      const bool normShape = shape.name.find("norm") != std::string::npos;
      if (op.norm != normShape) continue;
      for (auto dtype : {at::kFloat, at::kBFloat16}) {
        const std::string key = op.name + "/" + shape.name + "/" + dtypeName(dtype);
        int64_t n = 1;
        for (auto d : shape.dims)
          n *= d;
        Row row{op.name, shape.name, dtypeName(dtype)};
        row.traffic = minimalTraffic(op, n, n / shape.dims.back(), at::elementSize(dtype));
        row.atenSaved = savedBytes(op, false, shape.dims, dtype);
        row.oursSaved = savedBytes(op, true, shape.dims, dtype);
        gRows[key] = row;
        for (bool ours : {false, true}) {
          benchmark::RegisterBenchmark((key + (ours ? "/lowmem" : "/aten")).c_str(),
                                       [op, ours, shape, dtype](benchmark::State& state) {
                                         auto x = at::randn(shape.dims).to(dtype);
                                         auto g = at::randn(shape.dims).to(dtype);
                                         for (auto _ : state)
                                           runStep(op, ours, x, g);
                                       })
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();
        }
        // memcpy of the same traffic: half read, half written.
        const int64_t bytes = row.traffic / 2;
        benchmark::RegisterBenchmark((key + "/memcpy").c_str(),
                                     [bytes](benchmark::State& state) {
                                       auto src = at::empty({bytes}, at::kByte).fill_(1);
                                       auto dst = at::empty({bytes}, at::kByte);
                                       for (auto _ : state) {
                                         dst.copy_(src);
                                         benchmark::DoNotOptimize(dst.data_ptr());
                                       }
                                     })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  }
}

void printSummary() {
  std::cout
      << "\nforward+backward, lowmem vs ATen (ratio < 1: lowmem faster); bandwidth = minimal bytes / time\n";
  std::cout << std::left << std::setw(12) << "op" << std::setw(22) << "shape" << std::setw(6) << "dtype"
            << std::right << std::setw(10) << "ATen ms" << std::setw(11) << "lowmem ms" << std::setw(8)
            << "ratio" << std::setw(13) << "lowmem GB/s" << std::setw(13) << "memcpy GB/s" << std::setw(14)
            << "saved ATen" << std::setw(14) << "saved lowmem"
            << "\n";
  for (const auto& [key, r] : gRows) {
    if (r.atenMs <= 0 || r.oursMs <= 0) continue;
    const double gbOurs = r.traffic / (r.oursMs * 1e-3) / 1e9;
    const double gbCopy = r.memcpyMs > 0 ? r.traffic / (r.memcpyMs * 1e-3) / 1e9 : 0;
    std::cout << std::left << std::setw(12) << r.op << std::setw(22) << r.shape << std::setw(6) << r.dtype
              << std::right << std::fixed << std::setprecision(3) << std::setw(10) << r.atenMs
              << std::setw(11) << r.oursMs << std::setw(8) << std::setprecision(2) << r.oursMs / r.atenMs
              << std::setw(13) << std::setprecision(1) << gbOurs << std::setw(13) << gbCopy << std::setw(14)
              << r.atenSaved << std::setw(14) << r.oursSaved << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  lowmem::kernels::ensureOpsRegistered();
  auto parsed = lowmem::bench::parseArgs(argc, argv);
  std::vector<Shape> shapes;
  if (parsed.ci) {
    shapes = {{"act 2x197x768", {2, 197, 768}}, {"norm 2x197x768", {2, 197, 768}}};
  } else {
    shapes = {{"act 8x197x3072", {8, 197, 3072}},
              {"norm 8x197x768", {8, 197, 768}},
              {"act 4x512x11008", {4, 512, 11008}},
              {"norm 4x512x4096", {4, 512, 4096}}};
  }
  return lowmem::bench::runWithSummary(
      parsed, [&] { registerAll(shapes); },
      [](const std::string& key, const std::string& impl, double ms) {
        auto it = gRows.find(key);
        if (it == gRows.end()) return;
        (impl == "aten"     ? it->second.atenMs
         : impl == "lowmem" ? it->second.oursMs
                            : it->second.memcpyMs) = ms;
      },
      printSummary);
}
