// `lowmem validate`: does the patched model fine-tune like the original? Both train side by side from the
// same weights and batches over several seeds; the verdict sets their held-out difference against the
// seed-to-seed noise. Exit 0 pass, 1 fail, 4 inconclusive (the original did not learn).

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "app/lowmem/charts.h"
#include "app/lowmem/commands.h"
#include "app/lowmem/spec_options.h"
#include "core/atomic_file.h"
#include "core/bounded_json.h"
#include "core/error.h"
#include "core/session_store.h"
#include "core/step_choices.h"
#include "core/validation.h"
#include "service/data_sets.h"
#include "service/validate_run.h"

namespace lowmem::cli {
namespace {

// The profiler's defaults (SGD, 1e-3) price the step; fine-tuning needs an optimizer that learns in a few
// hundred steps: AdamW, at 1e-3 for adapters and 3e-4 when base weights train. Each where the user set none,
// by its flag or in the --spec file (read once here; resolveSpec has checked it).
void fineTuningDefaults(const CLI::App* cmd, const SpecArgs& args, StepSpec& spec) {
  const auto file = args.specFile.empty() ? nlohmann::json::object()
                                          : readBoundedJsonFile(args.specFile, "step spec", size_t{1} << 20);
  const auto userSets = [&](const std::string& key) {
    return cmd->get_option(flagOf(key))->count() > 0 || file.contains(key);
  };
  if (!userSets("optimizer")) spec.optimizer = OptimizerKind::kAdamW;
  if (!userSets("lr")) spec.lr = spec.trainable.mode() == TrainableSelection::Mode::kLora ? 1e-3 : 3e-4;
}

struct ValidateArgs {
  std::string model;
  SpecArgs spec;
  ValidateOptions options;
  std::vector<std::string> only;
  std::string session;
  std::string png;
  bool json = false;
};

// The training, held-out and verdict flags (the step flags are addSpecOptions').
void addRunOptions(CLI::App* cmd, ValidateArgs& a) {
  cmd->add_option("--steps", a.options.steps, "Training steps of each model per seed")
      ->check(CLI::Range(4, 100000))
      ->capture_default_str();
  cmd->add_option(flagOf("seeds"), a.options.seeds,
                  "Runs from the same weights, seeds --seed, --seed + 1, ...: each orders the batches and "
                  "draws dropout its own way; their spread is the noise the verdict allows")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  cmd->add_option(flagOf("held_out_points"), a.options.heldOutPoints,
                  "Held-out measurements per run, from step 0 to the last")
      ->check(CLI::Range(2, 100001))
      ->capture_default_str();
  cmd->add_option(flagOf("held_out"), a.options.heldOutUnits,
                  "Held-out examples (sequences for token data), whole batches (0: 2000 images, 256 "
                  "sequences, 128 synthetic examples or 8 batches, or fewer where measuring them would cost "
                  "more than the training: 3 x steps x batch / points, at least 128 or 8 batches)")
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--tolerance", a.options.tolerance,
                  "Margin on the held-out loss, relative to the original's, inside which a difference passes "
                  "whatever the noise")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option(flagOf("only"), a.only, "Patch only these sites: a kind, a module path or #ORDINAL");
  addBitsOption(cmd, a.options.selection.bits);
  cmd->add_option("--patched", a.options.patchedPath,
                  "Validate this patched model (from `lowmem patch`) instead of patching MODEL here");
  cmd->add_option(
      "--data", a.options.data,
      "fashion-mnist (Debian's dataset-fashion-mnist, for image classifiers), text (next-byte "
      "prediction on Python's standard library sources), or a torch.save'd list of (input..., "
      "target) tuples (class indices: cross-entropy; floats of the output's size: MSE), or synthetic (a "
      "task fitted to the model's output). Default: fashion-mnist for image classifiers with 10 or more "
      "logits, text for token models with 256 or more, synthetic otherwise");
}

void addOutputOptions(CLI::App* cmd, ValidateArgs& a) {
  cmd->add_option("--save-trained", a.options.saveTrainedPath,
                  "Save the original model as the first seed's training left it (a checkpoint to fine-tune "
                  "further, e.g. a base pre-trained with --trainable all, then validated with LoRA)");
  cmd->add_option("-o,--output", a.session, "Store the curves and the verdict in this session (.db)");
  cmd->add_option("--png", a.png, "Render the loss, held-out and gradient-cosine curves to this PNG");
  cmd->add_flag("--json", a.json, "Print JSON with every step and held-out point");
}

void printValidation(const ValidateArgs& a, const StepSpec& spec, const Validation& v) {
  if (a.json) {
    std::cout << validationJson(v).dump(2) << "\n";
    return;
  }
  std::printf("optimizer   %s, lr %g\n", nameOf(spec.optimizer).c_str(), spec.lr);
  writeValidationSummary(v, std::cout);
  for (const auto& written : {a.session, a.png, a.options.saveTrainedPath}) {
    if (!written.empty()) std::printf("wrote       %s\n", written.c_str());
  }
}

int runValidate(ValidateArgs& a, const CLI::App* cmd) {
  auto spec = resolveSpec(a.spec);
  fineTuningDefaults(cmd, a.spec, spec);
  if (!a.png.empty() && !chartsAvailable())
    throw InputError(a.png, std::string("cannot draw a PNG: ") + kNoChartsReason);
  auto inputs = specInputs(a.spec, spec);
  inputs.insert(inputs.end(), {{"the model", a.model},
                               {"the patched model (--patched)", a.options.patchedPath},
                               {"the data (--data)", namesDataSet(a.options.data) ? "" : a.options.data}});
  checkOutputs(inputs, {{"the session (-o)", a.session},
                        {"--png", a.png},
                        {"the trained model (--save-trained)", a.options.saveTrainedPath}});
  if (!a.session.empty()) checkSessionToAppend(a.session);
  a.options.selection.only = a.only;
  const auto v = validateModel(a.model, spec, a.options, cliProgress());
  endProgress();
  if (!a.session.empty()) writeToSession(a.session, [&](SessionWriter& w) { w.writeValidation(v); });
  if (!a.png.empty()) saveValidationPng(v, a.png);
  printValidation(a, spec, v);
  return static_cast<int>(v.outcome == ValidationOutcome::kPass           ? ExitCode::kOk
                          : v.outcome == ValidationOutcome::kInconclusive ? ExitCode::kInconclusive
                                                                          : ExitCode::kFailure);
}

}  // namespace

void addValidateCommand(CLI::App& app, Action& action) {
  auto a = std::make_shared<ValidateArgs>();
  auto* cmd = app.add_subcommand(
      "validate",
      "Fine-tune the original and the patched model side by side over several seeds and compare them on "
      "held-out data (exit 0 pass, 1 fail, 4 inconclusive: the original did not learn)");
  cmd->add_option("model", a->model, "TorchScript model (.pt), unpatched")->required();
  addSpecOptions(cmd, a->spec);
  addRunOptions(cmd, *a);
  addOutputOptions(cmd, *a);
  cmd->callback([a, cmd, &action] { action = [a, cmd] { return runValidate(*a, cmd); }; });
}

}  // namespace lowmem::cli
