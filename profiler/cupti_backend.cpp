#include "profiler/cupti_backend.h"

#ifdef LOWMEM_HAVE_CUPTI
#include <cupti.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <vector>
#endif

namespace lowmem {

#ifndef LOWMEM_HAVE_CUPTI

bool CuptiBackend::built() {
  return false;
}
std::string CuptiBackend::start() {
  return "not built: CUPTI was not found when lowmem was configured";
}
void CuptiBackend::stop(Trace&, StringInterner&) {}
void CuptiBackend::pushOp(int32_t) {}
void CuptiBackend::popOp() {}

#else

namespace {

constexpr size_t kBufferBytes = 8 << 20;
constexpr size_t kAlign = 8;

struct Raw {
  DeviceActivity::Kind kind;
  std::string name;
  uint64_t start, end;
  uint32_t correlation;
  int64_t bytes;
};

std::mutex gMutex;
std::vector<Raw> gRecords;
std::vector<std::pair<uint32_t, uint64_t> > gExternal;  // CUPTI correlation -> our op index + 1
std::atomic<bool> gActive{false};

void CUPTIAPI bufferRequested(uint8_t** buffer, size_t* size, size_t* maxRecords) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(kAlign, kBufferBytes));
  *size = *buffer ? kBufferBytes : 0;
  *maxRecords = 0;
}

void CUPTIAPI bufferCompleted(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t validSize) {
  std::lock_guard<std::mutex> lock(gMutex);
  CUpti_Activity* record = nullptr;
  while (cuptiActivityGetNextRecord(buffer, validSize, &record) == CUPTI_SUCCESS) {
    switch (record->kind) {
      case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
      case CUPTI_ACTIVITY_KIND_KERNEL: {
        auto* k = reinterpret_cast<CUpti_ActivityKernel10*>(record);
        const uint32_t correlation = k->correlationId;
        gRecords.push_back(
            {DeviceActivity::Kind::kKernel, k->name ? k->name : "kernel", k->start, k->end, correlation, 0});
        break;
      }
      case CUPTI_ACTIVITY_KIND_MEMCPY: {
        auto* m = reinterpret_cast<CUpti_ActivityMemcpy6*>(record);
        gRecords.push_back({DeviceActivity::Kind::kMemcpy, "memcpy", m->start, m->end, m->correlationId,
                            static_cast<int64_t>(m->bytes)});
        break;
      }
      case CUPTI_ACTIVITY_KIND_MEMSET: {
        auto* m = reinterpret_cast<CUpti_ActivityMemset4*>(record);
        gRecords.push_back({DeviceActivity::Kind::kMemset, "memset", m->start, m->end, m->correlationId,
                            static_cast<int64_t>(m->bytes)});
        break;
      }
      case CUPTI_ACTIVITY_KIND_RUNTIME: {
        auto* a = reinterpret_cast<CUpti_ActivityAPI*>(record);
        const char* name = nullptr;
        cuptiGetCallbackName(CUPTI_CB_DOMAIN_RUNTIME_API, a->cbid, &name);
        gRecords.push_back(
            {DeviceActivity::Kind::kRuntime, name ? name : "runtime", a->start, a->end, a->correlationId, 0});
        break;
      }
      case CUPTI_ACTIVITY_KIND_MEMORY2: {
        auto* m = reinterpret_cast<CUpti_ActivityMemory4*>(record);
        gRecords.push_back({DeviceActivity::Kind::kMemory, "memory", m->timestamp, m->timestamp,
                            m->correlationId, static_cast<int64_t>(m->bytes)});
        break;
      }
      case CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: {
        auto* e = reinterpret_cast<CUpti_ActivityExternalCorrelation*>(record);
        // Packed record: copy the fields before binding them.
        const uint32_t correlation = e->correlationId;
        const uint64_t external = e->externalId;
        gExternal.emplace_back(correlation, external);
        break;
      }
      default:
        break;
    }
  }
  std::free(buffer);
}

const CUpti_ActivityKind kKinds[] = {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL,
                                     CUPTI_ACTIVITY_KIND_MEMCPY,
                                     CUPTI_ACTIVITY_KIND_MEMSET,
                                     CUPTI_ACTIVITY_KIND_RUNTIME,
                                     CUPTI_ACTIVITY_KIND_MEMORY2,
                                     CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION};

std::string describe(CUptiResult r) {
  const char* s = nullptr;
  cuptiGetResultString(r, &s);
  return s ? s : "CUPTI error " + std::to_string(static_cast<int>(r));
}

}  // namespace

bool CuptiBackend::built() {
  return true;
}

std::string CuptiBackend::start() {
  if (auto r = cuptiActivityRegisterCallbacks(bufferRequested, bufferCompleted); r != CUPTI_SUCCESS) {
    return "unavailable: cuptiActivityRegisterCallbacks failed (" + describe(r) + ")";
  }
  for (auto kind : kKinds) {
    if (auto r = cuptiActivityEnable(kind); r != CUPTI_SUCCESS) {
      for (auto k : kKinds)
        cuptiActivityDisable(k);
      return "unavailable: cuptiActivityEnable failed (" + describe(r) + "); no GPU or driver";
    }
  }
  {
    std::lock_guard<std::mutex> lock(gMutex);
    gRecords.clear();
    gExternal.clear();
  }
  gActive = true;
  running_ = true;
  return {};
}

void CuptiBackend::stop(Trace& trace, StringInterner& strings) {
  if (!running_) return;
  gActive = false;
  cuptiActivityFlushAll(1);
  for (auto kind : kKinds)
    cuptiActivityDisable(kind);
  size_t dropped = 0;
  cuptiActivityGetNumDroppedRecords(nullptr, 0, &dropped);
  std::lock_guard<std::mutex> lock(gMutex);
  std::vector<std::pair<uint32_t, uint64_t> > external = gExternal;
  std::sort(external.begin(), external.end());
  for (const auto& r : gRecords) {
    DeviceActivity a;
    a.kind = r.kind;
    a.name = strings.intern(r.name);
    a.startNs = static_cast<int64_t>(r.start);
    a.endNs = static_cast<int64_t>(r.end);
    a.bytes = r.bytes;
    auto it = std::lower_bound(external.begin(), external.end(), std::make_pair(r.correlation, uint64_t{0}));
    if (it != external.end() && it->first == r.correlation) a.op = static_cast<int32_t>(it->second) - 1;
    trace.device.push_back(a);
  }
  trace.droppedDeviceRecords = static_cast<int64_t>(dropped);
  running_ = false;
}

void CuptiBackend::pushOp(int32_t op) {
  if (gActive)
    cuptiActivityPushExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0,
                                           static_cast<uint64_t>(op) + 1);
}

void CuptiBackend::popOp() {
  if (!gActive) return;
  uint64_t id = 0;
  cuptiActivityPopExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, &id);
}

#endif

}  // namespace lowmem
