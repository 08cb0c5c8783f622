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

#include "core/error.h"
#include "core/trainable.h"
#include "kernels/ops_library.h"
#include "patcher/rewriter.h"
#include "profiler/executor_mode.h"
#include "profiler/model_loader.h"
#include "profiler/step_runner.h"
#include "profiler/step_setup.h"
#include "service/patched_model_records.h"
#include "service/swap_run.h"

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

// The synthetic task: batches drawn from one seeded generator, so both models see the same data.
class Task {
 public:
  Task(const std::vector<c10::IValue>& example, const at::Tensor& output, uint64_t seed)
      : gen_(at::detail::createCPUGenerator(seed + 42)) {
    input_ = example.front().toTensor();
    const bool single = example.size() == 1;
    const bool floating = at::isFloatingType(input_.scalar_type());
    if (single && output.dim() == 2 && output.size(1) >= 2) {
      kind_ = Kind::kClassify;
      classes_ = std::min<int64_t>(output.size(1), 10);
      auto shape = input_.sizes().vec();
      shape[0] = classes_;
      if (floating) {
        patterns_ = at::randn(shape, gen_) * 0.7;
        name_ =
            "classification: " + std::to_string(classes_) + " classes, each a fixed input pattern plus noise";
      } else {
        // Token inputs: each class is a fixed token sequence, a quarter of whose tokens are redrawn.
        vocab_ = std::max<int64_t>(2, input_.max().item<int64_t>() + 1);
        patterns_ = at::randint(0, vocab_, shape, gen_, at::TensorOptions().dtype(at::kLong));
        name_ = "classification: " + std::to_string(classes_) +
                " classes, each a fixed token sequence with a quarter of its tokens redrawn";
      }
    } else if (single && !at::isFloatingType(input_.scalar_type()) && input_.dim() == 2 &&
               output.dim() == 3 && output.size(1) == input_.size(1)) {
      kind_ = Kind::kNextToken;
      vocab_ = std::min<int64_t>(output.size(2), 64);
      name_ = "next-token prediction: x[t+1] = (5 x[t] + 3) mod " + std::to_string(vocab_);
    } else {
      kind_ = Kind::kRegress;
      target_ = at::randn(output.sizes(), gen_).to(at::kFloat);
      name_ = "regression of the output onto a fixed random target (MSE)";
    }
  }

  // The user's batches (--data), used in turn.
  struct Batch {
    std::vector<c10::IValue> inputs;
    at::Tensor target;
  };
  Task(std::vector<Batch> batches, std::string path)
      : gen_(at::detail::createCPUGenerator(0)), batches_(std::move(batches)), path_(std::move(path)) {
    kind_ = Kind::kData;
    name_ = std::to_string(batches_.size()) + " batches from " + path_;
  }

  const std::string& name() const { return name_; }

  // The inputs of the next step and what the loss compares against.
  std::vector<c10::IValue> next(at::Tensor& labels) {
    switch (kind_) {
      case Kind::kClassify: {
        labels = at::randint(0, classes_, {input_.size(0)}, gen_, at::TensorOptions().dtype(at::kLong));
        const auto pattern = patterns_.index_select(0, labels);
        if (patterns_.scalar_type() == at::kLong) {
          const auto redraw = at::rand(input_.sizes(), gen_) < 0.25;
          const auto noise =
              at::randint(0, vocab_, input_.sizes(), gen_, at::TensorOptions().dtype(at::kLong));
          return {at::where(redraw, noise, pattern).to(input_.scalar_type())};
        }
        return {(at::randn(input_.sizes(), gen_) + pattern).to(input_.scalar_type())};
      }
      case Kind::kNextToken: {
        auto start = at::randint(0, vocab_, {input_.size(0), 1}, gen_, at::TensorOptions().dtype(at::kLong));
        std::vector<at::Tensor> columns{start};
        for (int64_t t = 1; t < input_.size(1); ++t)
          columns.push_back((columns.back() * 5 + 3).remainder(vocab_));
        auto seq = at::cat(columns, 1);
        labels = seq;
        return {seq.to(input_.scalar_type())};
      }
      case Kind::kRegress:
        labels = target_;
        return {input_};
      case Kind::kData: {
        const auto& b = batches_[next_++ % batches_.size()];
        labels = b.target;
        return b.inputs;
      }
    }
    return {};
  }

  at::Tensor loss(const at::Tensor& out, const at::Tensor& labels) const {
    switch (kind_) {
      case Kind::kClassify:
        return at::cross_entropy_loss(out.to(at::kFloat), labels);
      case Kind::kNextToken: {
        const int64_t v = out.size(2);
        auto logits = out.slice(1, 0, out.size(1) - 1).reshape({-1, v}).to(at::kFloat);
        return at::cross_entropy_loss(logits, labels.slice(1, 1).reshape({-1}));
      }
      case Kind::kRegress:
        return at::mse_loss(out.to(at::kFloat), labels);
      case Kind::kData:
        return dataLoss(out, labels);
    }
    return {};
  }

 private:
  // Class indices against logits with one more dimension: cross-entropy; a floating target of the output's
  // size: MSE.
  at::Tensor dataLoss(const at::Tensor& out, const at::Tensor& target) const {
    if (!at::isFloatingType(target.scalar_type()) && out.dim() == target.dim() + 1 &&
        out.numel() / std::max<int64_t>(1, out.size(-1)) == target.numel()) {
      return at::cross_entropy_loss(out.reshape({-1, out.size(-1)}).to(at::kFloat),
                                    target.reshape({-1}).to(at::kLong));
    }
    if (at::isFloatingType(target.scalar_type()) && target.numel() == out.numel())
      return at::mse_loss(out.to(at::kFloat), target.reshape(out.sizes()).to(at::kFloat));
    throw InputError(path_, "a batch's target " + shapeText(target) +
                                " fits neither cross-entropy (class indices "
                                "for logits with one more dimension) nor MSE against the model's output " +
                                shapeText(out));
  }
  static std::string shapeText(const at::Tensor& t) {
    std::string s = std::string(c10::toString(t.scalar_type())) + "[";
    for (int64_t d = 0; d < t.dim(); ++d)
      s += (d ? "," : "") + std::to_string(t.size(d));
    return s + "]";
  }

  enum class Kind { kClassify, kNextToken, kRegress, kData };
  Kind kind_ = Kind::kRegress;
  at::Generator gen_;
  at::Tensor input_, patterns_, target_;
  int64_t classes_ = 0, vocab_ = 0;
  std::string name_;
  std::vector<Batch> batches_;
  size_t next_ = 0;
  std::string path_;
};

// --data: a torch.save'd list or tuple of batches, each a tuple (input..., target) of tensors.
std::vector<Task::Batch> loadBatches(const std::string& path, const torch::jit::Module& module,
                                     const StepSpec& spec) {
  const auto value = readTorchSave(path, "data file");
  if (!value.isTuple() && !value.isList())
    throw InputError(
        path, "holds a " + value.tagKind() + "; expected a list or tuple of (input..., target) batches");
  const auto items = value.isTuple() ? value.toTupleRef().elements().vec() : value.toListRef().vec();
  if (items.empty()) throw InputError(path, "holds no batch");
  const size_t arguments = module.get_method("forward").function().getSchema().arguments().size() - 1;
  std::vector<Task::Batch> batches;
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& item = items[i];
    const auto parts = item.isTuple()  ? item.toTupleRef().elements().vec()
                       : item.isList() ? item.toListRef().vec()
                                       : std::vector<c10::IValue>{};
    if (parts.size() != arguments + 1) {
      throw InputError(path, "batch " + std::to_string(i) + " holds " + std::to_string(parts.size()) +
                                 " value(s); expected the model's " + std::to_string(arguments) +
                                 " input(s) and a target");
    }
    Task::Batch b;
    for (size_t k = 0; k < parts.size(); ++k) {
      if (!parts[k].isTensor())
        throw InputError(path, "batch " + std::to_string(i) + " value " + std::to_string(k) + " is a " +
                                   parts[k].tagKind() + ", not a tensor");
      const at::Tensor& t = parts[k].toTensor();
      // Inputs as every step input (device, and --dtype for floating ones); the target only moves: the losses
      // compute in float32.
      if (k + 1 < parts.size()) {
        b.inputs.push_back(placeInput(t, spec));
      } else {
        b.target = t.to(stepDevice(spec));
      }
    }
    batches.push_back(std::move(b));
  }
  return batches;
}

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
double step(Trainer& t, Task& task, const std::vector<c10::IValue>& inputs, const at::Tensor& labels) {
  return t.runner.forwardBackward(inputs, [&](const at::Tensor& out) { return task.loss(out, labels); })
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

// Step `s` of both models on the same batch and dropout masks: losses, gradient cosine, weight divergence.
ValidationStep stepBoth(Trainer& tb, Trainer& tp, Task& task, const StepSpec& spec, int s,
                        const std::set<std::string>& folded) {
  const auto failed = [&](const std::string& why) {
    return Error(ExitCode::kModelFailed, "validate: the model failed at step " + std::to_string(s + 1) +
                                             " of " + task.name() + ": " + why);
  };
  at::Tensor labels;
  const auto inputs = task.next(labels);
  ValidationStep r;
  try {
    at::manual_seed(spec.seed + 1000 + s);  // dropout draws the same masks in both models
    r.baselineLoss = step(tb, task, inputs, labels);
    at::manual_seed(spec.seed + 1000 + s);
    r.patchedLoss = step(tp, task, inputs, labels);
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

}  // namespace

Validation validateModel(const std::string& modelPath, const StepSpec& spec, const ValidateOptions& options,
                         const ProgressFn& progress) {
  if (options.steps < 4)
    throw SettingError("steps", "expected 4 or more (the verdict compares first and last steps)");
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
  // before the two models' first runs: LibTorch fixes a method's graph (optimized or raw) at its first run.
  const ExecutorModeGuard executorMode(spec.graphExecutorOptimize);
  auto base = loadModel(modelPath);
  auto patched = loadModel(patchedPath);
  placeModule(base, spec);
  placeModule(patched, spec);
  at::set_num_threads(stepThreads(spec));
  const auto example = stepInputs(base, modelPath, spec);
  // Training mode before the probe, so dropout and the like behave as in the steps.
  Trainer tb(base, spec);
  Trainer tp(patched, spec);
  at::Tensor probe;
  {
    torch::NoGradGuard noGrad;
    probe = firstTensor(base.forward(example));
  }
  Task task = options.dataPath.empty() ? Task(example, probe, spec.seed)
                                       : Task(loadBatches(options.dataPath, base, spec), options.dataPath);
  v.task = task.name();
  for (int s = 0; s < options.steps; ++s) {
    // Every step: the front end decides how often to show it.
    if (progress) progress("training step " + std::to_string(s + 1) + " of " + std::to_string(options.steps));
    v.steps.push_back(stepBoth(tb, tp, task, spec, s, folded));
  }
  judge(v);
  return v;
}

}  // namespace lowmem
