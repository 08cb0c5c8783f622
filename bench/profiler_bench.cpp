// The profiler's own costs, each against a baseline measured in the same run:
//   tracer overhead   traced step time / untraced step time (alternating runs, medians), beside the floor of
//                     any RecordFunction-based op tracer: the same steps with an empty global callback
//   tracer start/stop installing and removing the hooks (CUPTI's start and flush), outside the step
//   store             session write rate (events/s) and reopen time of a session with >= 1M events
//   tracer memory     bytes per recorded event
// Usage: profiler_bench [--ci] [--vit-b16 PATH/TO/vit_b_16.pt] [--store-only] [--default-malloc]
//
// glibc is told to keep freed memory (the mmap threshold at its 32 MiB maximum, no trimming), as a caching
// allocator does for real training: with its defaults, whether a step's large tensors come from fresh mmaps
// (page faults) or from reused heap depends on what ran before, and the same untraced step on vit_b_16
// varied by up to 2x from round to round. --default-malloc measures without it.

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <limits>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <thread>

#include "bench/synthetic_trace.h"
#include "core/profile.h"
#include "core/session_store.h"
#include "models/families.h"
#include "profiler/step_tracer.h"
#include "profiler/training_step.h"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// `f()` with a global RecordFunction callback that does nothing, on the tracer's scopes: what the
// dispatcher's op recording costs before a tracer records anything.
template <typename F>
double withEmptyOpCallback(F f) {
  const auto handle = at::addGlobalCallback(
      at::RecordFunctionCallback(
          [](const at::RecordFunction&) -> std::unique_ptr<at::ObserverContext> { return nullptr; },
          [](const at::RecordFunction&, at::ObserverContext*) {})
          .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION,
                   at::RecordScope::TORCHSCRIPT_FUNCTION}));
  const double value = f();
  at::removeCallback(handle);
  return value;
}

// The tracer's cost per event, away from any model: `ops` additions of one-element tensors (each an op event
// and an allocation; the previous result's free is a third event) untraced, with an empty RecordFunction
// callback, and traced. Nanoseconds per op, medians of `rounds`.
void perOpCost(int ops, int rounds) {
  const at::Tensor one = at::ones({1});
  auto run = [&] {
    at::Tensor x = at::zeros({1});
    const auto t0 = Clock::now();
    for (int i = 0; i < ops; ++i)
      x = at::add(x, one);
    return std::chrono::duration<double>(Clock::now() - t0).count() * 1e9 / ops;
  };
  std::vector<double> plain, empty, traced;
  for (int r = 0; r < rounds; ++r) {
    plain.push_back(run());
    empty.push_back(withEmptyOpCallback(run));
    lowmem::StepTracer tracer(false, static_cast<size_t>(ops) * 3);
    tracer.start();
    traced.push_back(run());
    tracer.stop();
  }
  std::cout << std::left << std::setw(48) << "tracer cost per op (1-element at::add)" << std::right
            << std::fixed << std::setprecision(0) << "untraced " << median(plain) << " ns, empty callback "
            << median(empty) << " ns, traced " << median(traced) << " ns: the tracer adds "
            << median(traced) - median(empty) << " ns an op (an op event and two memory events)\n";
}

void overhead(const std::string& name, torch::jit::Module module, const std::vector<c10::IValue>& inputs,
              const lowmem::StepOptions& o, int rounds) {
  std::vector<double> plain, traced, floor, startStop;
  size_t events = 0;
  for (int r = 0; r < rounds; ++r) {
    plain.push_back(lowmem::timeTrainingSteps(module, inputs, o, 1).front());
    auto s = lowmem::traceTrainingStep(module, inputs, o);
    traced.push_back(s.stepSeconds);
    startStop.push_back(s.tracerStartStopSeconds);
    events = s.trace.memory.size() + s.trace.ops.size();
    floor.push_back(
        withEmptyOpCallback([&] { return lowmem::timeTrainingSteps(module, inputs, o, 1).front(); }));
  }
  std::cout << std::left << std::setw(48) << ("tracer overhead, " + name) << std::right << std::fixed
            << std::setprecision(4) << "untraced " << median(plain) << " s, traced " << median(traced)
            << " s, ratio " << std::setprecision(3) << median(traced) / median(plain) << " (" << events
            << " events, medians of " << rounds << ")\n"
            << std::left << std::setw(48) << "  floor: empty RecordFunction callback" << std::right
            << std::setprecision(4) << median(floor) << " s, ratio " << std::setprecision(3)
            << median(floor) / median(plain) << "; tracer start + stop " << std::setprecision(4)
            << median(startStop) << " s (outside the step)\n";
}

void store(int64_t events) {
  const auto path = (std::filesystem::temp_directory_path() / "lowmem-bench-session.db").string();
  std::filesystem::remove(path);
  auto trace = lowmem::bench::syntheticTrace(events);
  auto profile = lowmem::analyseTrace(trace);
  lowmem::RunInfo info;
  info.label = "bench";
  const auto t0 = Clock::now();
  lowmem::SessionWriter(path).writeRun(info, trace, profile);
  const double write = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto t1 = Clock::now();
  lowmem::SessionReader reader(path);
  auto run = reader.load("bench");
  const double reopen = std::chrono::duration<double>(Clock::now() - t1).count();
  std::cout << std::left << std::setw(48) << "session store" << std::right << std::fixed
            << std::setprecision(3) << events << " events: write " << write << " s (" << std::setprecision(2)
            << events / write / 1e6 << " M events/s), reopen + re-analysis " << std::setprecision(3) << reopen
            << " s, file " << std::filesystem::file_size(path) / 1048576.0 << " MiB\n";
  if (run.profile.peak().total != profile.peak().total) std::cout << "  MISMATCH after reopen\n";
  std::filesystem::remove(path);
}

}  // namespace

int main(int argc, char** argv) {
  bool ci = false;
  bool storeOnly = false;  // three session-store rounds alone
  bool defaultMalloc = false;
  std::string vitB16;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--ci") == 0) ci = true;
    if (std::strcmp(argv[i], "--default-malloc") == 0) defaultMalloc = true;
    if (std::strcmp(argv[i], "--vit-b16") == 0 && i + 1 < argc) vitB16 = argv[++i];
    if (std::strcmp(argv[i], "--store-only") == 0) storeOnly = true;
  }
  // The store first, with glibc's defaults as the CLI runs it (keeping all freed memory made its writes
  // slower in one measurement, cause not pinned down).
  for (int r = 0; r < (storeOnly ? 3 : 1); ++r)
    store(ci ? 100000 : 1000000);
  if (storeOnly) return 0;
#if defined(__GLIBC__)
  // For the tracer overhead only (see the header).
  if (!defaultMalloc) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  }
#else
  (void)defaultMalloc;
#endif

  at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  std::cout << "tracer memory: " << sizeof(lowmem::MemoryEvent) << " bytes per memory event, "
            << sizeof(lowmem::OpEvent) << " bytes per op event (vectors reserved before the step)\n";
  perOpCost(ci ? 20000 : 200000, ci ? 3 : 7);
  lowmem::StepOptions o;
  o.trainable = lowmem::TrainableSelection::parse("lora");
  const auto c = lowmem::models::vitTiny();
  overhead("vit-tiny (LoRA, batch 2)", lowmem::models::buildVit(c, {}),
           {at::randn({2, c.channels, c.imageSize, c.imageSize})}, o, ci ? 3 : 15);
  if (!vitB16.empty()) {
    lowmem::StepOptions all;
    all.trainable = lowmem::TrainableSelection::parse("all");
    overhead("torchvision vit_b_16 (batch 2)", torch::jit::load(vitB16), {at::randn({2, 3, 224, 224})}, all,
             ci ? 1 : 5);
  }
  return 0;
}
