#include "app/lowmem/spec_options.h"

#include <fstream>

#include "core/error.h"

namespace lowmem::cli {

void addSpecOptions(CLI::App* cmd, SpecArgs& a) {
  cmd->add_option("--input", a.inputs,
                  "Input NAME:DTYPE[d0,...] (:LOW..HIGH for integers); repeat per input");
  cmd->add_option("--inputs-file", a.spec.inputsFile,
                  "Example inputs saved with torch.save: a tensor, a list/tuple, or a dict by argument name");
  cmd->add_option("--spec", a.specFile, "Step spec as JSON (flags given beside it add to it)");
  cmd->add_option("--trainable", a.spec.trainable, "saved, all, lora, none, or a regex")
      ->capture_default_str();
  cmd->add_option("--loss", a.spec.loss,
                  "output (a scalar output), mean, sum, or cross-entropy against a synthetic target")
      ->capture_default_str();
  cmd->add_option("--optimizer", a.spec.optimizer, "sgd or adamw")->capture_default_str();
  cmd->add_option("--lr", a.spec.lr, "Learning rate")->capture_default_str();
  cmd->add_option("--warmup", a.spec.warmupSteps, "Untraced steps first")->capture_default_str();
  cmd->add_option("--threads", a.spec.threads, "Intra-op threads (0: every core)")->capture_default_str();
  cmd->add_option("--seed", a.spec.seed, "Seed of the example inputs")->capture_default_str();
  cmd->add_option(
      "--dtype", a.spec.dtype,
      "Cast the model and floating inputs: float32, bfloat16, float16 or float64 (default: as saved)");
  cmd->add_option("--device", a.spec.device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--amp", a.spec.amp,
                  "Mixed precision: bf16 or fp16 autocast in forward and loss, float32 master weights");
  cmd->add_flag("--record-shapes", a.spec.recordShapes,
                "Record every ATen op's input shapes (slower tracing)");
  cmd->add_flag("--graph-optimize", a.spec.graphExecutorOptimize,
                "Let the profiling graph executor rewrite the training graph (default: eager-like)");
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
