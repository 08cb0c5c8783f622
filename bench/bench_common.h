#pragma once
// What every benchmark's main needs: its own --ci flag split from Google Benchmark's, LibTorch on every core,
// and the runs that stand for a benchmark in the summary (the median with --benchmark_repetitions, the single
// run otherwise), named without Google Benchmark's "/real_time".

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace lowmem::bench {

struct Args {
  bool ci = false;
  std::vector<char*> forBenchmark;  // argv without --ci; --ci adds a short minimum time
};

inline Args parseArgs(int argc, char** argv) {
  Args a;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--ci") == 0) {
      a.ci = true;
    } else {
      a.forBenchmark.push_back(argv[i]);
    }
  }
  if (a.ci) {
    static char minTime[] = "--benchmark_min_time=0.02";
    a.forBenchmark.push_back(minTime);
  }
  // LibTorch here defaults to one thread; measure on every core, as a training run would.
  at::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  return a;
}

// The run's name ("op/shape/dtype/impl") when it stands for its benchmark in the summary; nullopt otherwise.
inline std::optional<std::string> summaryName(const benchmark::BenchmarkReporter::Run& r) {
  using Run = benchmark::BenchmarkReporter::Run;
  const bool aggregate = r.run_type == Run::RT_Aggregate;
  if (aggregate && r.aggregate_name != "median") return std::nullopt;
  if (!aggregate && (r.iterations == 0 || r.repetitions > 1)) return std::nullopt;
  std::string name = r.run_name.str();
  const std::string suffix = "/real_time";
  if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
    name.resize(name.size() - suffix.size());
  return name;
}

}  // namespace lowmem::bench
