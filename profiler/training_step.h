#pragma once
// One fine-tuning step as a user's loop runs it (zero_grad, forward, loss, backward, optimizer step), after
// warm-up steps, traced by a StepTracer.

#include <torch/script.h>

#include <optional>
#include <vector>

#include "core/step_choices.h"
#include "core/trace.h"
#include "core/trainable.h"

namespace lowmem {

struct StepOptions {
  TrainableSelection trainable;
  // kCrossEntropy: the target is drawn once (seeded) with the output's other dimensions and stays fixed
  // across steps, like a batch of labels.
  LossKind loss = LossKind::kMean;
  OptimizerKind optimizer = OptimizerKind::kSgd;
  double lr = 1e-3;
  int warmupSteps = 1;
  // false: eager autograd, what users' loops see; true: the profiling graph executor rewrites training graphs
  // from the second call on (platform notes), which changes what is saved.
  bool graphExecutorOptimize = false;
  // Record ATen ops' input shapes (slower: RecordFunction copies every op's inputs).
  bool recordShapes = false;
  // Where the step runs: a CUDA step is synchronized before its time is read.
  c10::DeviceType device = c10::DeviceType::CPU;
  // Mixed precision: forward and loss under autocast in this dtype on `device`; fp16 scales the loss.
  std::optional<at::ScalarType> autocast;
};

struct TracedStep {
  Trace trace;
  double stepSeconds = 0;  // the traced step's wall time (tracer running, its start and stop excluded)
  // Installing and removing the hooks (CUPTI's start and flush among them).
  double tracerStartStopSeconds = 0;
};

// The same step without the tracer, `steps` times after the warm-up: the wall time of each step, for the
// tracer-overhead benchmark.
std::vector<double> timeTrainingSteps(torch::jit::Module& module, const std::vector<c10::IValue>& inputs,
                                      const StepOptions& options, int steps);

// Throws lowmem::Error(kModelFailed) when the model fails while running, InputError for a non-scalar output
// under LossKind::kOutput.
TracedStep traceTrainingStep(torch::jit::Module& module, const std::vector<c10::IValue>& inputs,
                             const StepOptions& options);

}  // namespace lowmem
