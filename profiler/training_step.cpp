#include "profiler/training_step.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <chrono>
#include <memory>
#include <unordered_set>

#include "core/error.h"
#include "profiler/executor_mode.h"
#include "profiler/module_path_resolver.h"
#include "profiler/step_runner.h"
#include "profiler/step_tracer.h"

namespace lowmem {
namespace {

// The loss as a step computes it; cross-entropy keeps its synthetic target from the first call on.
class Loss {
 public:
  explicit Loss(LossKind mode) : mode_(mode) {}
  at::Tensor operator()(const at::Tensor& out);
  const at::Tensor& target() const { return target_; }

 private:
  LossKind mode_;
  at::Tensor target_;
};

at::Tensor Loss::operator()(const at::Tensor& out) {
  switch (mode_) {
    case LossKind::kCrossEntropy: {
      if (out.dim() < 2 || !at::isFloatingType(out.scalar_type())) {
        throw SettingError("loss", "cross-entropy needs a floating output of shape [..., classes], got " +
                                       c10::str(out.sizes()));
      }
      const int64_t classes = out.size(-1);
      if (!target_.defined()) {
        auto gen = at::detail::createCPUGenerator(1234);
        target_ = at::randint(0, classes, {out.numel() / classes}, gen, at::TensorOptions().dtype(at::kLong))
                      .to(out.device());
      }
      return at::cross_entropy_loss(out.reshape({-1, classes}).to(at::kFloat), target_);
    }
    case LossKind::kOutput:
      if (out.numel() != 1) {
        throw SettingError("loss", "output needs a scalar output; the model's output has shape " +
                                       c10::str(out.sizes()) + " (choose mean, sum or cross-entropy)");
      }
      return out.reshape({});
    case LossKind::kMean:
      return out.to(at::kFloat).mean();
    case LossKind::kSum:
      return out.to(at::kFloat).sum();
  }
  return out.mean();
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
  StepRunner runner(module, o);
  Loss loss(o.loss);
  for (int i = 0; i < o.warmupSteps; ++i)
    runner.step(inputs, loss);
  std::vector<double> seconds;
  for (int i = 0; i < steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    runner.step(inputs, loss);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return seconds;
}

namespace {

// The warm-up steps (optimizer state and caches exist before the traced step, as in a running loop), and the
// cross-entropy target when there are none.
void warmUp(StepRunner& runner, torch::jit::Module& module, const std::vector<c10::IValue>& inputs,
            Loss& lossFn, const StepOptions& o) {
  try {
    for (int i = 0; i < o.warmupSteps; ++i)
      runner.step(inputs, lossFn);
    if (o.loss == LossKind::kCrossEntropy && !lossFn.target().defined()) {
      // No warm-up: one forward without autograd sizes the target before tracing.
      torch::NoGradGuard noGrad;
      auto scope = runner.autocast();
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
  runner.clearGradients();
}

// What exists before the traced step: parameters, buffers, optimizer state, inputs.
void addStoragesBefore(StepTracer& tracer, std::unordered_set<const void*>& seen, torch::jit::Module& module,
                       StepRunner& runner, const std::vector<c10::IValue>& inputs, const Loss& lossFn) {
  for (const auto& p : module.named_parameters())
    addStorage(tracer, seen, p.value, KnownRole::kParameter, p.name, true);
  for (const auto& b : module.named_buffers())
    addStorage(tracer, seen, b.value, KnownRole::kBuffer, b.name, true);
  addOptimizerState(tracer, seen, runner.optimizer(), true);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].isTensor()) {
      addStorage(tracer, seen, inputs[i].toTensor(), KnownRole::kInput, "input " + std::to_string(i), true);
    }
  }
  addStorage(tracer, seen, lossFn.target(), KnownRole::kInput, "cross-entropy target", true);
}

struct StepResults {
  at::Tensor output, loss;
};

// The step itself, between phase marks; the tracer is stopped on every failure.
StepResults runMarkedStep(StepTracer& tracer, StepRunner& runner, torch::jit::Module& module,
                          const std::vector<c10::IValue>& inputs, Loss& lossFn) {
  StepResults r;
  try {
    {
      auto scope = runner.autocast();
      tracer.markPhase(Phase::kForward);
      r.output = firstTensor(module.forward(inputs));
      tracer.markPhase(Phase::kLoss);
      r.loss = lossFn(r.output);
    }
    tracer.markPhase(Phase::kBackward);
    runner.backward(r.loss);
    tracer.markPhase(Phase::kOptimizer);
    runner.optimizerStep();
    runner.finishDeviceWork();
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
  return r;
}

// Identified after the step: what it allocated for the caller to keep.
void addStoragesAfter(StepTracer& tracer, std::unordered_set<const void*>& seen, StepRunner& runner,
                      const StepResults& r) {
  addStorage(tracer, seen, r.output, KnownRole::kOutput, "output", false);
  addStorage(tracer, seen, r.loss, KnownRole::kOutput, "loss", false);
  for (size_t i = 0; i < runner.parameters().size(); ++i) {
    addStorage(tracer, seen, runner.parameters()[i].grad(), KnownRole::kGradient, runner.names()[i] + ".grad",
               false);
  }
  addOptimizerState(tracer, seen, runner.optimizer(), false);
}

}  // namespace

TracedStep traceTrainingStep(torch::jit::Module& module, const std::vector<c10::IValue>& inputs,
                             const StepOptions& o) {
  ExecutorModeGuard mode(o.graphExecutorOptimize);
  StepRunner runner(module, o);
  Loss lossFn(o.loss);
  // Before the warm-up: faulting in the tracer's buffers writes tens of megabytes, which evicted the model's
  // working set from the caches and slowed the traced step that followed (profiler_bench: vit-tiny 2.1
  // -> 1.7).
  StepTracer tracer(o.recordShapes);
  warmUp(runner, module, inputs, lossFn, o);
  std::unordered_set<const void*> seen;
  addStoragesBefore(tracer, seen, module, runner, inputs, lossFn);

  using Clock = std::chrono::steady_clock;
  const auto seconds = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  const auto beforeStart = Clock::now();
  tracer.start();
  const auto t0 = Clock::now();
  const auto results = runMarkedStep(tracer, runner, module, inputs, lossFn);
  const auto t1 = Clock::now();
  tracer.stop();
  TracedStep traced;
  traced.stepSeconds = seconds(t0, t1);
  traced.tracerStartStopSeconds = seconds(beforeStart, t0) + seconds(t1, Clock::now());

  addStoragesAfter(tracer, seen, runner, results);
  ModulePathResolver paths(module);
  tracer.resolveModulePaths([&paths](const std::string& frames) { return paths.resolve(frames); });
  traced.trace = std::move(tracer.trace());
  traced.trace.moduleTypes = moduleTypesOf(module);
  return traced;
}

}  // namespace lowmem
