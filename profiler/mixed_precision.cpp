#include "profiler/mixed_precision.h"

#include <ATen/Functions.h>

#include "kernels/autocast_compat.h"

namespace lowmem {

AutocastScope::AutocastScope(c10::DeviceType device, std::optional<c10::ScalarType> dtype) : device_(device) {
  if (!dtype) return;
  active_ = true;
  previousEnabled_ = autocast::enabled(device_);
  previousDtype_ = autocast::dtype(device_);
  autocast::setEnabled(device_, true);
  autocast::setDtype(device_, *dtype);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  autocast::setEnabled(device_, previousEnabled_);
  autocast::setDtype(device_, previousDtype_);
}

at::Tensor GradientScaler::scale(const at::Tensor& loss) {
  if (!enabled_) return loss;
  if (!scale_.defined()) {
    const auto options = at::TensorOptions().device(loss.device());
    scale_ = at::full({1}, 65536.0, options.dtype(at::kFloat));
    growth_ = at::zeros({1}, options.dtype(at::kInt));
  }
  return loss * scale_.to(loss.scalar_type());
}

bool GradientScaler::unscale(const std::vector<at::Tensor>& params) {
  if (!enabled_ || !scale_.defined()) return true;
  std::vector<at::Tensor> grads;
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  auto foundInf = at::zeros({1}, scale_.options());
  at::_amp_foreach_non_finite_check_and_unscale_(grads, foundInf, scale_.reciprocal());
  at::_amp_update_scale_(scale_, growth_, foundInf, 2.0, 0.5, 2000);
  return foundInf.item<float>() == 0.0f;
}

double GradientScaler::currentScale() const {
  return scale_.defined() ? scale_.item<double>() : 1.0;
}

}  // namespace lowmem
