#include "service/validate_run.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/trainable.h"
#include "kernels/attention_dropout.h"
#include "kernels/ops_library.h"
#include "patcher/rewriter.h"
#include "profiler/executor_mode.h"
#include "profiler/model_loader.h"
#include "profiler/step_runner.h"
#include "profiler/step_setup.h"
#include "service/patched_model_records.h"
#include "service/swap_run.h"
#include "service/validation_task.h"

namespace lowmem {
namespace {

namespace fs = std::filesystem;

// A folder of its own for the patched copy, removed on every exit path.
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("lowmem-validate-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A model's side of the side-by-side training: the profiler's step runner, and its trainable parameters by
// name for comparing gradients.
struct Trainer {
  explicit Trainer(torch::jit::Module& m, const StepSpec& spec) : runner(m, stepOptions(spec)) {
    if (runner.parameters().empty()) throw SettingError("trainable", "selects no parameter to train");
    for (size_t i = 0; i < runner.parameters().size(); ++i)
      params[runner.names()[i]] = runner.parameters()[i];
  }
  StepRunner runner;
  std::map<std::string, at::Tensor> params;
};

// Forward and loss under the step's autocast, backward; the optimizer step is the caller's, after the two
// models' gradients are compared.
double step(Trainer& t, const ValidationTask& task, const TaskBatch& batch) {
  return t.runner
      .forwardBackward(batch.inputs, [&](const at::Tensor& out) { return task.loss(out, batch.target); })
      .item<double>();
}

// The patched model to train beside the original: patched here from `selection` into `dir`, or the user's
// (which must record rewrites). Fills the validation's rewrites and the parameters folding changed.
std::string patchedModelFor(const std::string& modelPath, const StepSpec& spec,
                            const ValidateOptions& options, const TempDir& dir, Validation& v,
                            std::set<std::string>& folded, const ProgressFn& progress) {
  if (!options.patchedPath.empty()) {
    const auto given = loadModel(options.patchedPath);
    v.rewrites = recordedRewrites(given);
    if (v.rewrites.empty())
      throw InputError(options.patchedPath, "records no lowmem rewrite; give a model `lowmem patch` wrote");
    checkPatchedFrom(given, options.patchedPath, modelPath);
    return options.patchedPath;
  }
  const auto patchedPath = (dir.path / "patched.pt").string();
  const auto patch = patchModelFile(modelPath, patchedPath, spec, options.selection, progress);
  v.rewrites = patch.rewrites;
  folded.insert(patch.foldedParameters.begin(), patch.foldedParameters.end());
  return patchedPath;
}

// The cosine between the two models' gradients over the parameters both train, in float64.
double gradientCosine(const Trainer& tb, const Trainer& tp) {
  double dot = 0, na = 0, nb = 0;
  for (const auto& [name, pa] : tb.params) {
    auto it = tp.params.find(name);
    if (it == tp.params.end() || !pa.grad().defined() || !it->second.grad().defined()) continue;
    const auto ga = pa.grad().to(at::kDouble), gb = it->second.grad().to(at::kDouble);
    dot += (ga * gb).sum().item<double>();
    na += (ga * ga).sum().item<double>();
    nb += (gb * gb).sum().item<double>();
  }
  return na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 1.0;
}

// ||w_patched - w_base|| / ||w_base|| over the trained parameters folding did not change.
double weightDivergence(const Trainer& tb, const Trainer& tp, const std::set<std::string>& folded) {
  torch::NoGradGuard noGrad;
  double diff = 0, norm = 0;
  for (const auto& [name, pa] : tb.params) {
    auto it = tp.params.find(name);
    if (it == tp.params.end() || folded.count(name)) continue;
    diff += (pa.to(at::kDouble) - it->second.to(at::kDouble)).pow(2).sum().item<double>();
    norm += pa.to(at::kDouble).pow(2).sum().item<double>();
  }
  return norm > 0 ? std::sqrt(diff / norm) : 0.0;
}

// Step `s` of one seed's run, both models on the same batch and dropout masks: losses, gradient cosine,
// weight divergence.
ValidationStep stepBoth(Trainer& tb, Trainer& tp, ValidationTask& task, uint64_t seed, int s,
                        const std::set<std::string>& folded) {
  const auto failed = [&](const std::string& why) {
    return Error(ExitCode::kModelFailed, "validate: the model failed at step " + std::to_string(s + 1) +
                                             " of " + task.name() + ": " + why);
  };
  const auto batch = task.next();
  ValidationStep r;
  try {
    // Dropout draws the same masks in both models, lowmem::attention's included (as aten::dropout's): the
    // runs differ by what the swaps change, not by dropout noise.
    const kernels::DropoutAsAten sameMasks;
    at::manual_seed(seed + 1000 + static_cast<uint64_t>(s));
    r.baselineLoss = step(tb, task, batch);
    at::manual_seed(seed + 1000 + static_cast<uint64_t>(s));
    r.patchedLoss = step(tp, task, batch);
  } catch (const c10::Error& e) {
    throw failed(modelErrorLine(e.what_without_backtrace()));
  } catch (const std::runtime_error& e) {
    if (dynamic_cast<const Error*>(&e)) throw;
    throw failed(modelErrorLine(e.what()));
  }
  r.gradientCosine = gradientCosine(tb, tp);
  tb.runner.optimizerStep();
  tp.runner.optimizerStep();
  r.weightDivergence = weightDivergence(tb, tp, folded);
  if (!std::isfinite(r.baselineLoss) || !std::isfinite(r.patchedLoss))
    throw Error(ExitCode::kModelFailed, "validate: the loss is not finite at step " + std::to_string(s + 1) +
                                            "; lower the learning rate");
  return r;
}

// One model on the whole held-out set, in eval mode (no dropout) and without gradients.
struct HeldOutMeasure {
  double loss = 0;     // mean over units
  double unitStd = 0;  // standard deviation of the units' losses
  double accuracy = -1;
  int units = 0;
};

HeldOutMeasure measureHeldOut(torch::jit::Module& m, const ValidationTask& task) {
  torch::NoGradGuard noGrad;
  m.eval();
  double sum = 0, squares = 0;
  int64_t units = 0, right = 0;
  for (const auto& b : task.heldOut()) {
    const auto out = firstTensor(m.forward(b.inputs));
    const auto each = task.unitLosses(out, b.target);
    sum += each.sum().item<double>();
    squares += each.pow(2).sum().item<double>();
    units += each.numel();
    if (task.classifies()) right += task.correct(out, b.target);
  }
  m.train();
  HeldOutMeasure h;
  h.units = static_cast<int>(units);
  h.loss = sum / static_cast<double>(units);
  h.unitStd =
      units > 1 ? std::sqrt(std::max(0.0, (squares - sum * h.loss) / static_cast<double>(units - 1))) : 0;
  if (task.classifies()) h.accuracy = static_cast<double>(right) / static_cast<double>(units);
  return h;
}

// The steps after which the held-out set is measured: 0, then `points - 1` evenly spaced up to the last.
std::set<int> measuredSteps(int steps, int points) {
  std::set<int> at{0, steps};
  for (int i = 1; i + 1 < points; ++i)
    at.insert(static_cast<int>(std::lround(static_cast<double>(steps) * i / (points - 1))));
  return at;
}

// Both models measured after `step` steps, appended to the run; the run's standard error is its latest
// measurement's, so after the last step it is the one the verdict's floor uses.
void measureBoth(torch::jit::Module& base, torch::jit::Module& patched, const ValidationTask& task, int step,
                 SeedRun& run) {
  const auto b = measureHeldOut(base, task), p = measureHeldOut(patched, task);
  run.heldOut.push_back({step, b.loss, p.loss, b.accuracy, p.accuracy});
  run.units = b.units;
  run.lossStandardError = b.unitStd / std::sqrt(static_cast<double>(std::max(1, b.units)));
}

// Both models freshly loaded for one seed's run, placed as the spec asks.
struct ModelPair {
  torch::jit::Module base, patched;
  ModelPair(const std::string& basePath, const std::string& patchedPath, const StepSpec& spec)
      : base(loadModel(basePath)), patched(loadModel(patchedPath)) {
    placeModule(base, spec);
    placeModule(patched, spec);
  }
};

// The task, from the model's own inputs and first output (probed in training mode, so dropout and the like
// behave as in the steps).
std::unique_ptr<ValidationTask> taskFor(const std::string& modelPath, const StepSpec& spec,
                                        const ValidateOptions& options) {
  auto m = loadModel(modelPath);
  placeModule(m, spec);
  TaskRequest r;
  r.data = options.data;
  r.heldOutUnits = options.heldOutUnits;
  r.steps = options.steps;
  r.heldOutPoints = options.heldOutPoints;
  r.example = stepInputs(m, modelPath, spec);
  Trainer probeTrainer(m, spec);
  torch::NoGradGuard noGrad;
  r.output = firstTensor(m.forward(r.example));
  return makeValidationTask(r, m, spec);
}

// One seed's run from identical starting weights: the training curve (kept for the first seed) and the
// held-out points.
SeedRun runSeed(const std::string& modelPath, const std::string& patchedPath, const StepSpec& spec,
                const ValidateOptions& options, ValidationTask& task, int k,
                const std::set<std::string>& folded, Validation& v, const ProgressFn& progress) {
  ModelPair models(modelPath, patchedPath, spec);
  Trainer tb(models.base, spec);
  Trainer tp(models.patched, spec);
  SeedRun run;
  run.seed = spec.seed + static_cast<uint64_t>(k);
  task.reseed(run.seed);
  const auto measured = measuredSteps(options.steps, options.heldOutPoints);
  measureBoth(models.base, models.patched, task, 0, run);
  const std::string seedText =
      options.seeds > 1 ? "seed " + std::to_string(k + 1) + " of " + std::to_string(options.seeds) + ": "
                        : "";
  for (int s = 0; s < options.steps; ++s) {
    // Every step: the front end decides how often to show it.
    if (progress)
      progress(seedText + "training step " + std::to_string(s + 1) + " of " + std::to_string(options.steps));
    const auto r = stepBoth(tb, tp, task, run.seed, s, folded);
    if (k == 0) v.steps.push_back(r);
    if (measured.count(s + 1)) measureBoth(models.base, models.patched, task, s + 1, run);
  }
  if (k == 0 && !options.saveTrainedPath.empty()) {
    // A file that does not load back is never put in place.
    const auto loadsBack = [](const std::string& tmp) { loadModel(tmp); };
    writeFileAtomically(
        options.saveTrainedPath, [&](const std::string& tmp) { saveModel(models.base, tmp); }, loadsBack);
  }
  return run;
}

}  // namespace

Validation validateModel(const std::string& modelPath, const StepSpec& spec, const ValidateOptions& options,
                         const ProgressFn& progress) {
  if (options.steps < 4)
    throw SettingError("steps", "expected 4 or more (the verdict compares first and last steps)");
  if (options.seeds < 1 || options.seeds > 100) throw SettingError("seeds", "expected 1 to 100");
  if (options.heldOutPoints < 2 || options.heldOutPoints > options.steps + 1)
    throw SettingError("held_out_points", "expected 2 (before and after training) to the steps + 1");
  if (options.heldOutUnits < 0) throw SettingError("held_out", "expected 0 (the data's default) or more");
  options.selection.validate();
  kernels::ensureOpsRegistered();
  Validation v;
  v.modelPath = modelPath;
  v.tolerance = options.tolerance;
  v.bits = options.selection.bits;
  TempDir dir;
  std::set<std::string> folded;
  const auto patchedPath = patchedModelFor(modelPath, spec, options, dir, v, folded, progress);
  // The executor mode the profiler runs the step in (eager-like unless the spec asks for optimisation), set
  // before the models' first runs: LibTorch fixes a method's graph (optimized or raw) at its first run.
  const ExecutorModeGuard executorMode(spec.graphExecutorOptimize);
  at::set_num_threads(stepThreads(spec));
  const auto task = taskFor(modelPath, spec, options);
  v.task = task->name();
  for (int k = 0; k < options.seeds; ++k)
    v.seeds.push_back(runSeed(modelPath, patchedPath, spec, options, *task, k, folded, v, progress));
  judge(v);
  return v;
}

}  // namespace lowmem
