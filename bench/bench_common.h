#pragma once
// What every benchmark's main needs: its own --ci flag split from Google Benchmark's, LibTorch on every core,
// and the runs that stand for a benchmark in the summary (the median with --benchmark_repetitions, the single
// run otherwise), named without Google Benchmark's "/real_time".

#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <cstring>
#include <functional>
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

// Prints as the console reporter does and hands each run that stands for its benchmark to `record` as
// (row key, implementation, milliseconds): "gelu/act 8x197x3072/fp32/lowmem" is ("gelu/act 8x197x3072/fp32",
// "lowmem").
class SummaryCollector : public benchmark::ConsoleReporter {
 public:
  using Record = std::function<void(const std::string& key, const std::string& impl, double ms)>;
  explicit SummaryCollector(Record record) : record_(std::move(record)) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& r : runs) {
      const auto name = summaryName(r);
      if (!name) continue;
      const auto slash = name->rfind('/');
      record_(name->substr(0, slash), name->substr(slash + 1), r.GetAdjustedRealTime());  // in ms, the unit
    }
  }

 private:
  Record record_;
};

// A benchmark main's body after its flags are parsed: registers its benchmarks, runs the ones asked for,
// hands each row's timing to `record` (see SummaryCollector), then prints the summary.
inline int runWithSummary(Args& args, const std::function<void()>& registerAll,
                          const SummaryCollector::Record& record, const std::function<void()>& printSummary) {
  int n = static_cast<int>(args.forBenchmark.size());
  benchmark::Initialize(&n, args.forBenchmark.data());
  registerAll();
  SummaryCollector collector(record);
  benchmark::RunSpecifiedBenchmarks(&collector);
  printSummary();
  benchmark::Shutdown();
  return 0;
}

}  // namespace lowmem::bench
