#include "service/profile_run.h"

#include <ATen/Parallel.h>

#include <thread>

#include "core/error.h"
#include "core/model_attributes.h"
#include "profiler/model_inspector.h"
#include "profiler/model_loader.h"
#include "profiler/step_inputs.h"
#include "profiler/training_step.h"

namespace lowmem {
namespace {

std::vector<InputSpec> inputsFor(const torch::jit::Module& module, const std::string& path,
                                 const StepSpec& spec) {
  if (!spec.inputs.empty()) return spec.inputs;
  if (module.hasattr(kInputHintAttribute) && module.attr(kInputHintAttribute).isString()) {
    return {parseInputSpec(module.attr(kInputHintAttribute).toStringRef(), path + " (recorded input spec)")};
  }
  throw InputError(path,
                   "records no example input; give --input NAME:DTYPE[dims] for " + forwardSignature(module));
}

StepOptions optionsFor(const StepSpec& spec) {
  StepOptions o;
  o.trainable = TrainableSelection::parse(spec.trainable);
  o.loss = spec.loss == "output"          ? LossMode::kOutput
           : spec.loss == "sum"           ? LossMode::kSum
           : spec.loss == "cross-entropy" ? LossMode::kCrossEntropy
                                          : LossMode::kMean;
  o.optimizer = spec.optimizer == "adamw" ? OptimizerKind::kAdamW : OptimizerKind::kSgd;
  o.lr = spec.lr;
  o.warmupSteps = spec.warmupSteps;
  o.graphExecutorOptimize = spec.graphExecutorOptimize;
  return o;
}

}  // namespace

SessionRun profileModel(const std::string& modelPath, const StepSpec& spec, const std::string& label,
                        const ProgressFn& progress) {
  auto stage = [&](const char* what) {
    if (progress) progress(what);
  };
  spec.validate();
  stage("loading model");
  auto module = loadModel(modelPath);
  const auto inputs = makeInputs(module, inputsFor(module, modelPath, spec), spec.seed);
  const int threads =
      spec.threads > 0 ? spec.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(threads);
  stage(spec.warmupSteps > 0 ? "warm-up and traced step" : "traced step");
  auto step = traceTrainingStep(module, inputs, optionsFor(spec));
  stage("analysing");
  SessionRun run;
  run.trace = std::move(step.trace);
  run.profile = analyseTrace(run.trace);
  run.info.label = label;
  run.info.modelPath = modelPath;
  run.info.specJson = spec.toJson().dump();
  run.info.backend = "cpu";
  run.info.executorMode = spec.graphExecutorOptimize ? "graph executor optimisation on (profiling executor)"
                                                     : "eager-like (graph executor optimisation off)";
  run.info.threads = threads;
  run.info.deviceTracing = run.trace.deviceTracing;
  run.info.stepSeconds = step.stepSeconds;
  run.info.peakBytes = run.profile.peak().total;
  run.info.baselineBytes = run.profile.baselineBytes;
  run.info.activationBytes = run.profile.activationBytes;
  run.info.events = static_cast<int64_t>(run.trace.memory.size() + run.trace.ops.size());
  return run;
}

}  // namespace lowmem
