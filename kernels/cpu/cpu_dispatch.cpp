#include <cstdlib>
#include <cstring>

#include "kernels/cpu/cpu_kernels.h"

namespace lowmem::kernels::cpu {
#ifdef LOWMEM_HAVE_AVX2_KERNELS
namespace {

// ATen's choice, reproduced (its get_cpu_capability() is not exported): AVX2 where the CPU has it unless
// ATEN_CPU_CAPABILITY=default, so comparisons against ATen run like against like.
bool useAvx2() {
#if defined(__x86_64__) || defined(_M_X64)
  if (const char* env = std::getenv("ATEN_CPU_CAPABILITY"); env && std::strcmp(env, "default") == 0)
    return false;
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

}  // namespace
#endif

const CpuKernels& cpuKernels() {
#ifdef LOWMEM_HAVE_AVX2_KERNELS
  static const CpuKernels& chosen = useAvx2() ? AVX2::kernels() : DEFAULT::kernels();
#else
  static const CpuKernels& chosen = DEFAULT::kernels();
#endif
  return chosen;
}

}  // namespace lowmem::kernels::cpu
