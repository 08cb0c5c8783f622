#include "profiler/step_runner.h"

#include <spdlog/spdlog.h>
#include <torch/cuda.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "core/error.h"
#include "profiler/trainable_check.h"

namespace lowmem {

at::Tensor firstTensor(const c10::IValue& v) {
  if (v.isTensor()) return v.toTensor();
  if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) {
      if (e.isTensor()) return e.toTensor();
    }
  }
  if (v.isList()) {
    for (const auto& e : v.toListRef()) {
      if (e.isTensor()) return e.toTensor();
    }
  }
  throw InputError("forward", "returned no tensor (got " + v.tagKind() + ")");
}

StepRunner::StepRunner(torch::jit::Module& module, const StepOptions& options)
    : module_(module), options_(options), scaler_(options.autocast == at::kHalf) {
  checkSelectsParameters(module_, options_.trainable, /*stepNeedsOne=*/true);
  module_.train();
  for (const auto& p : module_.named_parameters()) {
    at::Tensor param = p.value;
    const bool trains = options_.trainable.trains(p.name, param.requires_grad());
    param.set_requires_grad(trains);
    if (trains) {
      parameters_.push_back(param);
      names_.push_back(p.name);
    }
  }
  if (options_.optimizer == OptimizerKind::kAdamW) {
    optimizer_ = std::make_unique<torch::optim::AdamW>(parameters_, torch::optim::AdamWOptions(options_.lr));
  } else {
    optimizer_ = std::make_unique<torch::optim::SGD>(parameters_, torch::optim::SGDOptions(options_.lr));
  }
}

void StepRunner::clearGradients() {
  for (const auto& p : parameters_)
    p.mutable_grad().reset();
}

void StepRunner::backward(const at::Tensor& loss) {
  scaler_.scale(loss).backward();
  skipped_ = !scaler_.unscale(parameters_);
}

void StepRunner::optimizerStep() {
  if (!skipped_) {
    optimizer_->step();
    return;
  }
  spdlog::warn(
      "fp16 gradients overflowed at loss scale {}: the optimizer step was skipped, as GradScaler skips it",
      scaler_.currentScale() * 2);
}

void StepRunner::finishDeviceWork() const {
  if (options_.device == c10::DeviceType::CUDA) torch::cuda::synchronize();
}

}  // namespace lowmem
