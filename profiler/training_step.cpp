#include "profiler/training_step.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/cuda.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <chrono>
#include <memory>
#include <unordered_set>

#include "core/error.h"
#include "profiler/executor_mode.h"
#include "profiler/mixed_precision.h"
#include "profiler/module_path_resolver.h"
#include "profiler/step_tracer.h"

namespace lowmem {
namespace {

struct Trainable {
  std::vector<at::Tensor> params;
  std::vector<std::string> names;
};

Trainable selectTrainable(torch::jit::Module& module, const TrainableSelection& selection) {
  Trainable t;
  for (const auto& p : module.named_parameters()) {
    at::Tensor param = p.value;
    const bool trains = selection.trains(p.name, param.requires_grad());
    param.set_requires_grad(trains);
    if (trains) {
      t.params.push_back(param);
      t.names.push_back(p.name);
    }
  }
  return t;
}

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const Trainable& t, const StepOptions& o) {
  if (o.optimizer == OptimizerKind::kAdamW) {
    return std::make_unique<torch::optim::AdamW>(t.params, torch::optim::AdamWOptions(o.lr));
  }
  return std::make_unique<torch::optim::SGD>(t.params, torch::optim::SGDOptions(o.lr));
}

// set_to_none, as PyTorch 2.x's default zero_grad: the step then allocates its gradients, as real loops do.
void clearGradients(const Trainable& t) {
  for (const auto& p : t.params)
    p.mutable_grad().reset();
}

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

// The loss as a step computes it; cross-entropy keeps its synthetic target from the first call on.
class Loss {
 public:
  explicit Loss(LossMode mode) : mode_(mode) {}
  at::Tensor operator()(const at::Tensor& out);
  const at::Tensor& target() const { return target_; }

 private:
  LossMode mode_;
  at::Tensor target_;
};

at::Tensor Loss::operator()(const at::Tensor& out) {
  switch (mode_) {
    case LossMode::kCrossEntropy: {
      if (out.dim() < 2 || !at::isFloatingType(out.scalar_type())) {
        throw InputError("--loss cross-entropy",
                         "needs a floating output of shape [..., classes], got " + c10::str(out.sizes()));
      }
      const int64_t classes = out.size(-1);
      if (!target_.defined()) {
        auto gen = at::detail::createCPUGenerator(1234);
        target_ = at::randint(0, classes, {out.numel() / classes}, gen, at::TensorOptions().dtype(at::kLong))
                      .to(out.device());
      }
      return at::cross_entropy_loss(out.reshape({-1, classes}).to(at::kFloat), target_);
    }
    case LossMode::kOutput:
      if (out.numel() != 1) {
        throw InputError("--loss output", "the model's output has shape " + c10::str(out.sizes()) +
                                              ", not a scalar; use --loss mean, sum or cross-entropy");
      }
      return out.reshape({});
    case LossMode::kMean:
      return out.to(at::kFloat).mean();
    case LossMode::kSum:
      return out.to(at::kFloat).sum();
  }
  return out.mean();
}

// Kernels run asynchronously on a GPU: a step's time is read after they finished.
void finishDeviceWork(const StepOptions& o) {
  if (o.device == c10::DeviceType::CUDA) torch::cuda::synchronize();
}

// The optimizer step, skipped (as GradScaler skips it) when fp16 gradients overflowed.
void optimizerStep(torch::optim::Optimizer& optimizer, GradientScaler& scaler, const Trainable& t) {
  if (scaler.unscale(t.params)) {
    optimizer.step();
  } else {
    spdlog::warn(
        "fp16 gradients overflowed at loss scale {}: the optimizer step was skipped, as GradScaler "
        "skips it",
        scaler.currentScale() * 2);
  }
}

void runStep(torch::jit::Module& module, const std::vector<c10::IValue>& inputs, Loss& loss,
             torch::optim::Optimizer& optimizer, GradientScaler& scaler, const Trainable& t,
             const StepOptions& o) {
  clearGradients(t);
  at::Tensor value;
  {
    AutocastScope autocast(o.device, o.autocast);
    value = loss(firstTensor(module.forward(inputs)));
  }
  scaler.scale(value).backward();
  optimizerStep(optimizer, scaler, t);
  finishDeviceWork(o);
}

void addStorage(StepTracer& tracer, std::unordered_set<const void*>& seen, const at::Tensor& tensor,
                KnownRole role, const std::string& name, bool preexisting) {
  if (!tensor.defined() || !tensor.has_storage()) return;
  const void* data = tensor.storage().data();
  if (data == nullptr || !seen.insert(data).second) return;  // views share a storage: count it once
  tracer.addKnown(reinterpret_cast<uint64_t>(data), static_cast<int64_t>(tensor.storage().nbytes()), role,
                  name, preexisting);
}

void addOptimizerState(StepTracer& tracer, std::unordered_set<const void*>& seen,
                       torch::optim::Optimizer& optimizer, bool preexisting) {
  for (auto& [key, state] : optimizer.state()) {
    if (auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(state.get())) {
      addStorage(tracer, seen, adamw->exp_avg(), KnownRole::kOptimizerState, "exp_avg", preexisting);
      addStorage(tracer, seen, adamw->exp_avg_sq(), KnownRole::kOptimizerState, "exp_avg_sq", preexisting);
      addStorage(tracer, seen, adamw->max_exp_avg_sq(), KnownRole::kOptimizerState, "max_exp_avg_sq",
                 preexisting);
    } else if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(state.get())) {
      addStorage(tracer, seen, sgd->momentum_buffer(), KnownRole::kOptimizerState, "momentum_buffer",
                 preexisting);
    }
  }
}

// What a failure while running the step means for the user: out of memory is the spec's size (exit 2, with
// what to change), anything else is the model's own failure (exit 3).
Error stepFailure(const std::string& stage, const std::string& what) {
  const std::string line = modelErrorLine(what);
  // CPU: "DefaultCPUAllocator: can't allocate memory" (or "not enough memory"); CUDA: "out of memory".
  bool oom = false;
  for (const char* text : {"can't allocate memory", "not enough memory", "out of memory"})
    oom = oom || line.find(text) != std::string::npos;
  if (oom) {
    return Error(ExitCode::kBadInput, "out of memory in " + stage + " (" + line +
                                          "); reduce the batch or input sizes, or select fewer trainable "
                                          "parameters");
  }
  return Error(ExitCode::kModelFailed, "model failed in " + stage + ": " + line);
}

}  // namespace

std::vector<double> timeTrainingSteps(torch::jit::Module& module, const std::vector<c10::IValue>& inputs,
                                      const StepOptions& o, int steps) {
  ExecutorModeGuard mode(o.graphExecutorOptimize);
  module.train();
  const auto trainable = selectTrainable(module, o.trainable);
  auto optimizer = makeOptimizer(trainable, o);
  Loss loss(o.loss);
  GradientScaler scaler(o.autocast == at::kHalf);
  for (int i = 0; i < o.warmupSteps; ++i)
    runStep(module, inputs, loss, *optimizer, scaler, trainable, o);
  std::vector<double> seconds;
  for (int i = 0; i < steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    runStep(module, inputs, loss, *optimizer, scaler, trainable, o);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return seconds;
}

TracedStep traceTrainingStep(torch::jit::Module& module, const std::vector<c10::IValue>& inputs,
                             const StepOptions& o) {
  ExecutorModeGuard mode(o.graphExecutorOptimize);
  module.train();
  const auto trainable = selectTrainable(module, o.trainable);
  auto optimizer = makeOptimizer(trainable, o);
  Loss lossFn(o.loss);
  GradientScaler scaler(o.autocast == at::kHalf);
  // Before the warm-up: faulting in the tracer's buffers writes tens of megabytes, which evicted the model's
  // working set from the caches and slowed the traced step that followed (profiler_bench: vit-tiny 2.1
  // -> 1.7).
  StepTracer tracer(o.recordShapes);
  try {
    for (int i = 0; i < o.warmupSteps; ++i)
      runStep(module, inputs, lossFn, *optimizer, scaler, trainable, o);
    if (o.loss == LossMode::kCrossEntropy && !lossFn.target().defined()) {
      // No warm-up: one forward without autograd sizes the target before tracing.
      torch::NoGradGuard noGrad;
      AutocastScope autocast(o.device, o.autocast);
      lossFn(firstTensor(module.forward(inputs)));
    }
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw stepFailure("warm-up", e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw stepFailure("warm-up", e.what());
  }
  // Gradients of the warm-up are freed before tracing, as the traced step's zero_grad would free them.
  clearGradients(trainable);

  TracedStep result;
  std::unordered_set<const void*> seen;
  for (const auto& p : module.named_parameters())
    addStorage(tracer, seen, p.value, KnownRole::kParameter, p.name, true);
  for (const auto& b : module.named_buffers())
    addStorage(tracer, seen, b.value, KnownRole::kBuffer, b.name, true);
  addOptimizerState(tracer, seen, *optimizer, true);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].isTensor()) {
      addStorage(tracer, seen, inputs[i].toTensor(), KnownRole::kInput, "input " + std::to_string(i), true);
    }
  }
  addStorage(tracer, seen, lossFn.target(), KnownRole::kInput, "cross-entropy target", true);

  at::Tensor out, loss;
  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  const auto beforeStart = Clock::now();
  tracer.start();
  const auto t0 = Clock::now();
  try {
    {
      AutocastScope autocast(o.device, o.autocast);
      tracer.markPhase(Phase::kForward);
      out = firstTensor(module.forward(inputs));
      tracer.markPhase(Phase::kLoss);
      loss = lossFn(out);
    }
    tracer.markPhase(Phase::kBackward);
    scaler.scale(loss).backward();
    tracer.markPhase(Phase::kOptimizer);
    optimizerStep(*optimizer, scaler, trainable);
    finishDeviceWork(o);
    tracer.markPhase(Phase::kAfter);
  } catch (const Error&) {
    tracer.stop();
    throw;
  } catch (const c10::Error& e) {
    tracer.stop();
    throw stepFailure("the traced step", e.what_without_backtrace());
  } catch (const std::exception& e) {
    tracer.stop();
    throw stepFailure("the traced step", e.what());
  }
  const auto t1 = Clock::now();
  tracer.stop();
  result.stepSeconds = seconds(t0, t1);
  result.tracerStartStopSeconds = seconds(beforeStart, t0) + seconds(t1, Clock::now());

  // Identified after the step: what it allocated for the caller to keep.
  addStorage(tracer, seen, out, KnownRole::kOutput, "output", false);
  addStorage(tracer, seen, loss, KnownRole::kOutput, "loss", false);
  for (size_t i = 0; i < trainable.params.size(); ++i) {
    addStorage(tracer, seen, trainable.params[i].grad(), KnownRole::kGradient, trainable.names[i] + ".grad",
               false);
  }
  addOptimizerState(tracer, seen, *optimizer, false);
  ModulePathResolver paths(module);
  tracer.resolveModulePaths([&paths](const std::string& frames) { return paths.resolve(frames); });
  result.trace = std::move(tracer.trace());
  return result;
}

}  // namespace lowmem
