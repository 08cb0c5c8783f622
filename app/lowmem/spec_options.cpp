#include "app/lowmem/spec_options.h"

#include <fstream>

#include "core/error.h"

namespace lowmem::cli {

namespace {

// The option, remembered with the field it sets: --spec FILE takes every field from the file, then the
// options the user gave (and only those) set theirs on top.
template <typename T>
CLI::Option* field(SpecArgs& a, CLI::Option* option, T StepSpec::*member) {
  a.overlays.push_back({option, [member](const StepSpec& from, StepSpec& to) { to.*member = from.*member; }});
  return option;
}

}  // namespace

void addSpecOptions(CLI::App* cmd, SpecArgs& a) {
  StepSpec& s = a.spec;
  cmd->add_option("--input", a.inputs,
                  "Input NAME:DTYPE[d0,...] (:LOW..HIGH for integers); repeat per input");
  field(a,
        cmd->add_option(
            "--inputs-file", s.inputsFile,
            "Example inputs saved with torch.save: a tensor, a list/tuple, or a dict by argument name"),
        &StepSpec::inputsFile);
  cmd->add_option("--spec", a.specFile, "Step spec as JSON (flags given beside it set their fields on top)");
  field(a, cmd->add_option("--trainable", s.trainable, "saved, all, lora, none, or a regex"),
        &StepSpec::trainable)
      ->capture_default_str();
  field(a,
        cmd->add_option("--loss", s.loss,
                        "output (a scalar output), mean, sum, or cross-entropy against a synthetic target"),
        &StepSpec::loss)
      ->capture_default_str();
  field(a, cmd->add_option("--optimizer", s.optimizer, "sgd or adamw"), &StepSpec::optimizer)
      ->capture_default_str();
  field(a, cmd->add_option("--lr", s.lr, "Learning rate"), &StepSpec::lr)->capture_default_str();
  field(a, cmd->add_option("--warmup", s.warmupSteps, "Untraced steps first"), &StepSpec::warmupSteps)
      ->capture_default_str();
  field(a, cmd->add_option("--threads", s.threads, "Intra-op threads (0: every core)"), &StepSpec::threads)
      ->capture_default_str();
  field(a, cmd->add_option("--seed", s.seed, "Seed of the example inputs"), &StepSpec::seed)
      ->capture_default_str();
  field(a,
        cmd->add_option(
            "--dtype", s.dtype,
            "Cast the model and floating inputs: float32, bfloat16, float16 or float64 (default: as saved)"),
        &StepSpec::dtype);
  field(a, cmd->add_option("--device", s.device, "cpu or cuda"), &StepSpec::device)->capture_default_str();
  field(a,
        cmd->add_option("--amp", s.amp,
                        "Mixed precision: bf16 or fp16 autocast in forward and loss, float32 master weights"),
        &StepSpec::amp);
  field(a,
        cmd->add_flag("--record-shapes", s.recordShapes,
                      "Record every ATen op's input shapes (slower tracing)"),
        &StepSpec::recordShapes);
  field(a,
        cmd->add_flag("--graph-optimize", s.graphExecutorOptimize,
                      "Let the profiling graph executor rewrite the training graph (default: eager-like)"),
        &StepSpec::graphExecutorOptimize);
}

StepSpec resolveSpec(const SpecArgs& a) {
  StepSpec spec = a.spec;
  if (!a.specFile.empty()) {
    std::ifstream in(a.specFile);
    if (!in) throw InputError(a.specFile, "cannot read the step spec");
    nlohmann::json j;
    try {
      in >> j;
    } catch (const nlohmann::json::exception& e) {
      throw InputError(a.specFile, std::string("not valid JSON (") + e.what() + ")");
    }
    spec = StepSpec::fromJson(j, a.specFile);
    for (const auto& o : a.overlays) {
      if (o.option->count() > 0) o.set(a.spec, spec);
    }
  }
  for (const auto& text : a.inputs)
    spec.inputs.push_back(parseInputSpec(text, "--input"));
  spec.validate();
  return spec;
}

void addBitsOption(CLI::App* cmd, int& bits) {
  cmd->add_option(
         "--bits", bits,
         "Bits per element the activation swaps keep for backward: 2 (ReGELU2/ReSiLU2, the paper's), "
         "3 or 4 (closer gradients, more memory)")
      ->capture_default_str();
}

}  // namespace lowmem::cli
