#pragma once
// Reserving the big per-event vectors of the tracer and the analysis (a million events, timeline points,
// storages) on huge pages where the kernel offers them on request (Linux THP in "madvise" mode). Filling such
// a vector was dominated by first-touch page faults on the project's virtual machines; 2 MiB pages take one
// fault where 4 KiB pages take 512. Elsewhere this is a plain reserve.

#include <cstddef>
#include <cstdint>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace lowmem {

// Advises the 2 MiB-aligned part of [data, data + bytes) to be backed by huge pages; a no-op when that part
// is empty (small buffers) or the platform has no such advice.
inline void adviseHugePages(void* data, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t{1} << 21;
  const auto begin = (reinterpret_cast<uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const auto end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

// reserve(n), advising huge pages for the new buffer before anything touches it.
template <typename T>
void reserveLarge(std::vector<T>& v, size_t n) {
  if (n <= v.capacity()) return;
  v.reserve(n);
  adviseHugePages(v.data() + v.size(), (v.capacity() - v.size()) * sizeof(T));
}

// reserveLarge(n), then every page of the buffer touched once: a recorder that must not stall while it
// records (the tracer during the step) pays its page faults here instead.
template <typename T>
void reservePrefaulted(std::vector<T>& v, size_t n) {
  reserveLarge(v, n);
  const size_t used = v.size();
  v.resize(v.capacity());
  v.resize(used);
}

}  // namespace lowmem
