// The profiler's own costs, each against a baseline measured in the same run:
//   tracer overhead   traced step time / untraced step time (alternating runs, medians)
//   store             session write rate (events/s) and reopen time of a session with >= 1M events
//   tracer memory     bytes per recorded event
// Usage: profiler_bench [--ci] [--vit-b16 PATH/TO/vit_b_16.pt] [--store-only]

#include <ATen/Parallel.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <thread>

#include "bench/synthetic_trace.h"
#include "core/profile.h"
#include "core/session_store.h"
#include "models/families.h"
#include "profiler/training_step.h"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void overhead(const std::string& name, torch::jit::Module module, const std::vector<c10::IValue>& inputs,
              const lowmem::StepOptions& o, int rounds) {
  std::vector<double> plain, traced;
  size_t events = 0;
  for (int r = 0; r < rounds; ++r) {
    auto t = lowmem::timeTrainingSteps(module, inputs, o, 1);
    plain.push_back(t.front());
    auto s = lowmem::traceTrainingStep(module, inputs, o);
    traced.push_back(s.stepSeconds);
    events = s.trace.memory.size() + s.trace.ops.size();
  }
  std::cout << std::left << std::setw(48) << ("tracer overhead, " + name) << std::right << std::fixed
            << std::setprecision(4) << "untraced " << median(plain) << " s, traced " << median(traced)
            << " s, ratio " << std::setprecision(3) << median(traced) / median(plain) << " (" << events
            << " events, medians of " << rounds << ")\n";
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
  std::string vitB16;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--ci") == 0) ci = true;
    if (std::strcmp(argv[i], "--vit-b16") == 0 && i + 1 < argc) vitB16 = argv[++i];
    if (std::strcmp(argv[i], "--store-only") == 0) storeOnly = true;
  }
  if (storeOnly) {
    for (int r = 0; r < 3; ++r)
      store(1000000);
    return 0;
  }
  at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  std::cout << "tracer memory: " << sizeof(lowmem::MemoryEvent) << " bytes per memory event, "
            << sizeof(lowmem::OpEvent) << " bytes per op event (vectors reserved before the step)\n";
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
  store(ci ? 100000 : 1000000);
  return 0;
}
