#include "service/profile_run.h"

#include <ATen/Parallel.h>

#include "core/error.h"
#include "profiler/model_loader.h"
#include "profiler/step_setup.h"
#include "profiler/training_step.h"
#include "service/module_runs.h"

namespace lowmem {

SessionRun profileModel(const std::string& modelPath, const StepSpec& spec, const std::string& label,
                        const ProgressFn& progress) {
  spec.validate();
  if (progress) progress("loading model");
  auto module = loadModel(modelPath);
  placeModule(module, spec);
  return profileLoadedModel(module, modelPath, spec, label, progress);
}

SessionRun profileLoadedModel(torch::jit::Module& module, const std::string& modelPath, const StepSpec& spec,
                              const std::string& label, const ProgressFn& progress) {
  auto stage = [&](const char* what) {
    if (progress) progress(what);
  };
  const auto inputs = stepInputs(module, modelPath, spec);
  const int threads = stepThreads(spec);
  at::set_num_threads(threads);
  stage(spec.warmupSteps > 0 ? "warm-up and traced step" : "traced step");
  auto step = traceTrainingStep(module, inputs, stepOptions(spec));
  stage("analysing");
  SessionRun run;
  run.trace = std::move(step.trace);
  run.profile = analyseTrace(run.trace);
  run.info.label = label;
  run.info.modelPath = modelPath;
  run.info.specJson = spec.toJson().dump();
  run.info.backend = nameOf(spec.device);
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
