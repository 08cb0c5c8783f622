#pragma once
// Mixed precision as PyTorch's torch.autocast and GradScaler run it, for C++: inside an AutocastScope the
// dispatcher runs matmul-like ops in the 16-bit dtype and precision-sensitive ones in float32, while the
// parameters stay float32 (the master weights the optimizer updates). fp16 also needs its loss scaled so that
// small gradients survive, and the step skipped when a gradient overflowed: GradientScaler.

#include <ATen/core/Tensor.h>
#include <c10/core/DeviceType.h>
#include <c10/core/ScalarType.h>

#include <optional>
#include <vector>

namespace lowmem {

// Autocast on `device` in `dtype` for the scope's lifetime; nullopt does nothing. Nested scopes restore the
// state they found; the outermost one frees autocast's cache of casted weights, as torch.autocast's exit
// does.
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device, std::optional<c10::ScalarType> dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_;
  bool active_ = false;
  bool previousEnabled_ = false;
  c10::ScalarType previousDtype_ = c10::ScalarType::Undefined;
};

// torch.cuda.amp.GradScaler's defaults: scale 2^16, halved on overflow, doubled after 2000 clean steps.
class GradientScaler {
 public:
  explicit GradientScaler(bool enabled) : enabled_(enabled) {}
  // loss * scale (loss itself when disabled).
  at::Tensor scale(const at::Tensor& loss);
  // Divides the gradients by the scale in place and updates the scale; false when a gradient is inf or NaN,
  // and the optimizer step is to be skipped.
  bool unscale(const std::vector<at::Tensor>& params);
  double currentScale() const;

 private:
  bool enabled_;
  at::Tensor scale_;   // float32, one element, on the loss's device
  at::Tensor growth_;  // int32 count of clean steps
};

}  // namespace lowmem
