#pragma once
// One fine-tuning step as a user's loop runs it, the pieces every caller shares (the traced step, the timing
// loop, validate's side-by-side training): the trainable selection applied once, the optimizer, autocast
// around forward and loss, the fp16 loss scale, the optimizer step skipped on overflow, and a GPU's work
// waited for before a step's time is read.

#include <torch/optim/optimizer.h>
#include <torch/script.h>

#include <memory>
#include <string>
#include <vector>

#include "profiler/mixed_precision.h"
#include "profiler/training_step.h"

namespace lowmem {

// A model's output as a tensor: the first tensor of a tuple or list output. InputError("forward") otherwise.
at::Tensor firstTensor(const c10::IValue& output);

class StepRunner {
 public:
  // Sets requires_grad on every parameter by options.trainable (the model is put in training mode) and makes
  // the optimizer over the trainable ones.
  StepRunner(torch::jit::Module& module, const StepOptions& options);

  // The step's autocast (does nothing without --amp): forward and loss run inside it, backward outside.
  AutocastScope autocast() const { return AutocastScope(options_.device, options_.autocast); }
  // zero_grad with set_to_none, as PyTorch 2.x: the step then allocates its gradients, as real loops do.
  void clearGradients();
  // backward of the (fp16: scaled) loss; the gradients are unscaled in place after it.
  void backward(const at::Tensor& loss);
  // The optimizer step, skipped (as GradScaler skips it, and logged) when the last backward overflowed.
  void optimizerStep();
  // Waits for a GPU's queued kernels: a step's wall time is read after them.
  void finishDeviceWork() const;

  // clearGradients, forward and `loss` under autocast, backward; the loss. The optimizer step is left to the
  // caller (validate compares two models' gradients first).
  template <typename LossFn>
  at::Tensor forwardBackward(const std::vector<c10::IValue>& inputs, LossFn&& loss) {
    clearGradients();
    at::Tensor value;
    {
      auto scope = autocast();
      value = loss(firstTensor(module_.forward(inputs)));
    }
    backward(value);
    return value;
  }

  // A whole step: forwardBackward, optimizerStep, finishDeviceWork.
  template <typename LossFn>
  void step(const std::vector<c10::IValue>& inputs, LossFn&& loss) {
    forwardBackward(inputs, loss);
    optimizerStep();
    finishDeviceWork();
  }

  const std::vector<at::Tensor>& parameters() const { return parameters_; }
  const std::vector<std::string>& names() const { return names_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  bool lastStepSkipped() const { return skipped_; }

 private:
  torch::jit::Module& module_;
  StepOptions options_;
  std::vector<at::Tensor> parameters_;
  std::vector<std::string> names_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  GradientScaler scaler_;
  bool skipped_ = false;
};

}  // namespace lowmem
