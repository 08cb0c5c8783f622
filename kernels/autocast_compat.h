#pragma once
// Autocast's per-device state across LibTorch versions: 2.4 replaced the per-device functions
// (set_cpu_enabled, set_autocast_gpu_dtype, ...) with ones taking the device type; 1.13 has only the old
// ones. Header-only, for the op library's autocast kernels and the profiler's AutocastScope alike.

#include <ATen/autocast_mode.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>
#include <torch/version.h>

namespace lowmem::autocast {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
inline bool enabled(c10::DeviceType d) {
  return at::autocast::is_autocast_enabled(d);
}
inline void setEnabled(c10::DeviceType d, bool on) {
  at::autocast::set_autocast_enabled(d, on);
}
inline c10::ScalarType dtype(c10::DeviceType d) {
  return at::autocast::get_autocast_dtype(d);
}
inline void setDtype(c10::DeviceType d, c10::ScalarType t) {
  at::autocast::set_autocast_dtype(d, t);
}
#else
inline bool enabled(c10::DeviceType d) {
  return d == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
inline void setEnabled(c10::DeviceType d, bool on) {
  d == c10::DeviceType::CUDA ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on);
}
inline c10::ScalarType dtype(c10::DeviceType d) {
  return d == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype()
                                    : at::autocast::get_autocast_cpu_dtype();
}
inline void setDtype(c10::DeviceType d, c10::ScalarType t) {
  d == c10::DeviceType::CUDA ? at::autocast::set_autocast_gpu_dtype(t)
                             : at::autocast::set_autocast_cpu_dtype(t);
}
#endif

}  // namespace lowmem::autocast
