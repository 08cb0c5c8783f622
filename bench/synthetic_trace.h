#pragma once
// A synthetic trace of any size for the store and studio benchmarks: allocate/free pairs 64 events apart,
// half in forward and half in backward, one op. Header-only: two benchmarks share it.

#include <cstdint>

#include "core/trace.h"

namespace lowmem::bench {

inline lowmem::Trace syntheticTrace(int64_t events) {
  lowmem::Trace t;
  lowmem::StringInterner in(t.strings);
  t.phases = {{lowmem::Phase::kForward, 0, 0},
              {lowmem::Phase::kBackward, events / 2, events / 2},
              {lowmem::Phase::kAfter, events + 1, events + 1}};
  const auto op = in.intern("aten::mul");
  t.ops.push_back({op, lowmem::OpScope::kFunction, lowmem::Phase::kForward, 1, 0, -1, 0, events, 0, events});
  t.memory.reserve(static_cast<size_t>(events));
  for (int64_t i = 0; i < events; ++i) {
    // Pairs: allocate, free 64 events later.
    const bool alloc = (i / 64) % 2 == 0;
    const uint64_t addr = 0x100000 + static_cast<uint64_t>((alloc ? i : i - 64) % (1 << 20)) * 256;
    t.memory.push_back({i + 1, i, addr, alloc ? 4096 : -4096, 0, -1});
  }
  return t;
}

}  // namespace lowmem::bench
