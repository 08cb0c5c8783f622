#pragma once
// Counts the bytes the c10 CPU allocator hands out while installed: the live set, by pointer, so tests
// measure what an op keeps alive instead of assuming it.

#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>
#include <torch/version.h>

#include <cstdint>
#include <memory>
#include <type_traits>
#include <unordered_map>

namespace lowmem::testing {

// LibTorch 2.x passes the allocator totals as size_t, 1.13 as int64_t.
#if TORCH_VERSION_MAJOR >= 2
using ReporterTotal = size_t;
#else
using ReporterTotal = int64_t;
#endif

class MemoryCounter : public c10::MemoryReportingInfoBase {
 public:
  void reportMemoryUsage(void* ptr, int64_t bytes, ReporterTotal, ReporterTotal, c10::Device) override {
    if (bytes > 0) {
      live_[ptr] = bytes;
      liveBytes_ += bytes;
    } else if (auto it = live_.find(ptr); it != live_.end()) {
      liveBytes_ -= it->second;
      live_.erase(it);
    }
  }
  bool memoryProfilingEnabled() const override { return true; }

  // Bytes allocated since installation and not yet freed.
  int64_t liveBytes() const { return liveBytes_; }

 private:
  std::unordered_map<void*, int64_t> live_;
  int64_t liveBytes_ = 0;
};

// Installs a counter for the current thread (and autograd work it runs) for the guard's lifetime.
class CountingScope {
 public:
  CountingScope()
      : counter_(std::make_shared<MemoryCounter>()), guard_(c10::DebugInfoKind::PROFILER_STATE, counter_) {}
  const MemoryCounter& counter() const { return *counter_; }

 private:
  std::shared_ptr<MemoryCounter> counter_;
  c10::DebugInfoGuard guard_;
};

}  // namespace lowmem::testing
