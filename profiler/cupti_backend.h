#pragma once
// GPU activity through CUPTI: concurrent kernels, memcpy, memset, runtime calls and MEMORY2 records, joined
// to ops by external correlation ids the tracer pushes around every op. Tensor lifetimes still come from the
// c10 reporter (the caching allocator hides frees from CUPTI). Without a GPU or driver CUPTI cannot enable
// its activities: start() says why and the profile goes on without device records.

#include <cstdint>
#include <string>

#include "core/trace.h"

namespace lowmem {

class CuptiBackend {
 public:
  // Whether this build has CUPTI at all (LOWMEM_HAVE_CUPTI).
  static bool built();

  // Enables the activity kinds. Returns an empty string on success, else why GPU tracing is unavailable.
  std::string start();
  // Flushes and converts the records into `trace` (device activities, dropped-record count).
  void stop(Trace& trace, StringInterner& strings);

  // Around each op: the op's index becomes the external correlation id of what it launches.
  static void pushOp(int32_t op);
  static void popOp();

 private:
  bool running_ = false;
};

}  // namespace lowmem
