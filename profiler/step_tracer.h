#pragma once
// Records one training step into a core Trace: allocations and frees through the c10 memory reporter
// (installed as PROFILER_STATE debug info, which the autograd engine carries into backward), op begin/end
// through a global RecordFunction callback, and the phase marks the step runner sets. Events go to vectors
// reserved up front; the tracer's own memory comes from malloc, never from the c10 allocator, so it does not
// trace itself.

#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>
#include <torch/version.h>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/trace.h"
#include "profiler/cupti_backend.h"

namespace lowmem {

#if TORCH_VERSION_MAJOR >= 2
using ReporterTotal = size_t;  // the allocator's totals became size_t in LibTorch 2.x
#else
using ReporterTotal = int64_t;
#endif

// A tensor an op returned, as the callback reads it (interned when added to the trace).
struct RecordedOutput {
  uint64_t addr = 0;
  std::string shape;
  std::string dtype;
};

class StepTracer : public c10::MemoryReportingInfoBase {
 public:
  // recordShapes: ATen ops' input shapes and returned tensors too (RecordFunction then copies every op's
  // inputs and outputs: slower).
  explicit StepTracer(bool recordShapes = false, size_t reserveEvents = 1 << 20);
  ~StepTracer() override;

  // Installs the memory reporter on this thread and the op callback globally, and tries CUPTI (its status, or
  // why it is unavailable, goes into Trace::deviceTracing). One tracer at a time.
  void start();
  // Removes both; the trace is complete afterwards.
  void stop();

  void markPhase(Phase phase);
  void addKnown(uint64_t addr, int64_t bytes, KnownRole role, const std::string& name, bool preexisting);

  // Ops record their module as interpreter frames ("0(Layer).mlp(MLP)"); after stop(), `resolve` turns each
  // distinct one into the instance's dotted path.
  void resolveModulePaths(const std::function<std::string(const std::string&)>& resolve);

  Trace& trace() { return trace_; }

  // c10::MemoryReportingInfoBase
  void reportMemoryUsage(void* ptr, int64_t bytes, ReporterTotal, ReporterTotal, c10::Device device) override;
  bool memoryProfilingEnabled() const override { return true; }

  // Called from the RecordFunction callbacks.
  int32_t beginOp(const char* name, OpScope scope, int64_t seqNr, const std::string& inputShapes,
                  std::array<uint64_t, 2> inputStorages);  // of the first two tensor arguments
  bool recordsShapes() const { return recordShapes_; }
  // Before endOp: the tensors op `op` returned (nothing for the allocation helpers).
  void addOutputs(int32_t op, const std::vector<RecordedOutput>& outputs);
  void endOp(int32_t op);

 private:
  int64_t nowNs() const;

  Trace trace_;
  StringInterner interner_;
  // Interning by name pointer (confirmed by text) skips building a std::string for every op.
  std::unordered_map<const char*, StringId> namesByPointer_;
  std::mutex mutex_;
  int64_t seq_ = 0;
  Phase phase_ = Phase::kBefore;
  std::chrono::steady_clock::time_point t0_;
  std::optional<c10::DebugInfoGuard> guard_;
  CuptiBackend cupti_;
  uint64_t callbackHandle_ = 0;
  bool running_ = false;
  bool recordShapes_ = false;
};

}  // namespace lowmem
