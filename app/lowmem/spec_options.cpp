#include "app/lowmem/spec_options.h"

#include <fstream>
#include <map>

#include "core/bounded_json.h"
#include "core/error.h"

namespace lowmem::cli {

const std::string& flagOf(const std::string& setting) {
  static const std::map<std::string, std::string> flags = {
      {"inputs", "--input"},
      {"inputs_file", "--inputs-file"},
      {"trainable", "--trainable"},
      {"loss", "--loss"},
      {"optimizer", "--optimizer"},
      {"lr", "--lr"},
      {"warmup_steps", "--warmup"},
      {"threads", "--threads"},
      {"seed", "--seed"},
      {"dtype", "--dtype"},
      {"device", "--device"},
      {"amp", "--amp"},
      {"record_shapes", "--record-shapes"},
      {"graph_executor_optimize", "--graph-optimize"},
      {"only", "--only"},
      {"bits", "--bits"},
      {"steps", "--steps"},
      {"seeds", "--seeds"},
      {"held_out_points", "--held-out-points"},
      {"held_out", "--held-out"},
      {"label", "--label"},
      {"run", "--run"},
      {"batch", "--batch"},
      {"seq", "--seq"},
      {"fit-batch", "--fit-batch"},
      {"fit-seq", "--fit-seq"},
      {"shard", "--shard"},
      {"budget", "--budget"},
  };
  const auto it = flags.find(setting);
  return it == flags.end() ? setting : it->second;
}

namespace {

// The option, remembered with the field it sets: --spec FILE takes every field from the file, then the
// options the user gave (and only those) set theirs on top.
template <typename T>
CLI::Option* field(SpecArgs& a, CLI::Option* option, T StepSpec::*member) {
  a.overlays.push_back({option, [member](const StepSpec& from, StepSpec& to) { to.*member = from.*member; }});
  return option;
}

// An option of a spec field's JSON key: its flag from flagOf, a plain value stored as given.
template <typename T>
CLI::Option* value(CLI::App* cmd, SpecArgs& a, const std::string& key, T StepSpec::*member,
                   const std::string& help) {
  return field(a, cmd->add_option(flagOf(key), a.spec.*member, help)->capture_default_str(), member);
}

// An option whose text names a choice of E: parsed while the command line is read, so a wrong name stops
// before any model loads, with the table's names in the help.
template <typename E, typename T>
CLI::Option* choice(CLI::App* cmd, SpecArgs& a, const std::string& key, T StepSpec::*member,
                    const std::string& help, const std::string& names = choiceList<E>()) {
  auto* option = cmd->add_option_function<std::string>(
      flagOf(key), [&a, key, member](const std::string& text) { a.spec.*member = choiceFrom<E>(text, key); },
      help + ": " + names);
  if constexpr (std::is_same_v<T, E>) option->default_str(nameOf(a.spec.*member));
  return field(a, option, member);
}

}  // namespace

void addSpecOptions(CLI::App* cmd, SpecArgs& a) {
  cmd->add_option(flagOf("inputs"), a.inputs,
                  "Input NAME:DTYPE[d0,...] (:LOW..HIGH for integers); repeat per input");
  field(a,
        cmd->add_option(
            flagOf("inputs_file"), a.spec.inputsFile,
            "Example inputs saved with torch.save: a tensor, a list/tuple, or a dict by argument name"),
        &StepSpec::inputsFile);
  cmd->add_option("--spec", a.specFile, "Step spec as JSON (flags given beside it set their fields on top)");
  field(a,
        cmd->add_option_function<std::string>(
               flagOf("trainable"),
               [&a](const std::string& text) { a.spec.trainable = TrainableSelection::parse(text); },
               "saved, all, lora, none, or a regex")
            ->default_str(a.spec.trainable.text()),
        &StepSpec::trainable);
  choice<LossKind>(cmd, a, "loss", &StepSpec::loss,
                   "Loss of the output (output: a scalar output itself; cross-entropy: against a synthetic "
                   "target)");
  choice<OptimizerKind>(cmd, a, "optimizer", &StepSpec::optimizer, "Optimizer");
  value(cmd, a, "lr", &StepSpec::lr, "Learning rate");
  value(cmd, a, "warmup_steps", &StepSpec::warmupSteps, "Untraced steps first");
  value(cmd, a, "threads", &StepSpec::threads, "Intra-op threads (0: every core)");
  value(cmd, a, "seed", &StepSpec::seed, "Seed of the example inputs")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 62));  // CLI11 would wrap -1 to 2^64 - 1
  choice<Dtype>(cmd, a, "dtype", &StepSpec::dtype, "Cast the model and floating inputs (default: as saved)",
                floatingDtypeList());
  choice<DeviceKind>(cmd, a, "device", &StepSpec::device, "Where the step runs");
  choice<AmpKind>(cmd, a, "amp", &StepSpec::amp,
                  "Mixed precision: autocast in forward and loss, float32 master weights");
  field(a,
        cmd->add_flag(flagOf("record_shapes"), a.spec.recordShapes,
                      "Record every ATen op's input shapes and returned tensors (storages get shapes and "
                      "dtypes; slower tracing)"),
        &StepSpec::recordShapes);
  field(a,
        cmd->add_flag(flagOf("graph_executor_optimize"), a.spec.graphExecutorOptimize,
                      "Let the profiling graph executor rewrite the training graph (default: eager-like)"),
        &StepSpec::graphExecutorOptimize);
}

StepSpec resolveSpec(const SpecArgs& a) {
  StepSpec spec = a.spec;
  if (!a.specFile.empty()) {
    // A step spec is a few hundred bytes; a megabyte is room for thousands of inputs.
    spec = StepSpec::fromJson(readBoundedJsonFile(a.specFile, "step spec", size_t{1} << 20), a.specFile);
    for (const auto& o : a.overlays) {
      if (o.option->count() > 0) o.set(a.spec, spec);
    }
  }
  for (const auto& text : a.inputs)
    spec.inputs.push_back(parseInputSpec(text, "inputs"));
  spec.validate();
  return spec;
}

std::vector<NamedPath> specInputs(const SpecArgs& args, const StepSpec& spec) {
  return {{"the step spec (--spec)", args.specFile}, {"the inputs file (--inputs-file)", spec.inputsFile}};
}

void addBitsOption(CLI::App* cmd, int& bits) {
  cmd->add_option(
         flagOf("bits"), bits,
         "Bits per element the activation swaps keep for backward: 2 (ReGELU2/ReSiLU2, the paper's), "
         "3 or 4 (closer gradients, more memory)")
      ->capture_default_str();
}

}  // namespace lowmem::cli
