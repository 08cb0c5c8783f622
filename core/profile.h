#pragma once
// The analysis of a Trace: every storage's lifetime and category (with the reason), who allocated and who
// held each activation, the memory timeline by category, and the peak. Plain data, no LibTorch.

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/trace.h"

namespace lowmem {

enum class Category : uint8_t {
  kParameter,
  kGradient,
  kOptimizerState,
  kInput,
  kActivation,  // allocated in forward, alive when backward starts
  kTemporary,   // born and dead within one phase
  kOutput,      // the model's output and the loss
  kOther,
};
inline constexpr int kCategoryCount = 8;
const char* categoryName(Category category);

struct StorageLife {
  uint64_t addr = 0;
  int64_t bytes = 0;
  int64_t allocSeq = -1;  // -1: allocated before the trace (a known storage)
  int64_t freeSeq = -1;   // -1: alive at the end of the trace
  Phase allocPhase = Phase::kBefore;
  Phase freePhase = Phase::kAfter;
  int32_t allocOp = -1;          // innermost op open at the allocation
  int32_t freeOp = -1;           // innermost op open at the free
  int32_t holderOp = -1;         // activations: the backward node in or right after which it was freed
  int32_t holderForwardOp = -1;  // that node's forward op, joined by autograd sequence number
  StringId module = 0;           // the allocating op's module path
  Category category = Category::kOther;
  int32_t reason = 0;  // index into Profile::reasons: storages share a few hundred distinct reasons

  bool aliveAt(int64_t seq) const { return allocSeq <= seq && (freeSeq < 0 || freeSeq > seq); }
};

struct TimelinePoint {
  int64_t seq = 0;
  int64_t timeNs = 0;
  int64_t total = 0;
  std::array<int64_t, kCategoryCount> byCategory{};
};

struct ModuleActivation {
  int64_t exclusive = 0;  // activations allocated by ops of exactly this module
  int64_t inclusive = 0;  // this module and its submodules
};

struct Profile {
  std::vector<StorageLife> storages;
  std::vector<std::string> reasons{""};  // why each storage has its category, interned; 0 is ""
  std::vector<TimelinePoint> timeline;   // a point before the first event, then one per memory event
  int64_t baselineBytes = 0;             // alive before the step (known storages)
  size_t peakPoint = 0;                  // index into timeline
  int64_t backwardStartSeq = -1;
  int64_t activationBytes = 0;  // activations alive when backward starts
  int64_t untrackedFrees = 0;   // frees of storages allocated before tracing and not known
  std::map<std::string, ModuleActivation> moduleActivations;  // by dotted path; "" is the root

  const TimelinePoint& peak() const { return timeline[peakPoint]; }
  const std::string& reasonOf(const StorageLife& s) const { return reasons[static_cast<size_t>(s.reason)]; }
  std::vector<size_t> aliveAt(int64_t seq) const;  // storage indices
};

// Throws std::invalid_argument for a trace whose sequence numbers go backwards.
Profile analyseTrace(const Trace& trace);

}  // namespace lowmem
