// `lowmem validate`: does the patched model fine-tune like the original? Both train side by side on a
// synthetic task; the verdict is the final-window loss ratio.

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "app/lowmem/charts.h"
#include "app/lowmem/commands.h"
#include "app/lowmem/spec_options.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/session_store.h"
#include "core/validation.h"
#include "service/validate_run.h"

namespace lowmem::cli {

void addValidateCommand(CLI::App& app, Action& action) {
  struct Args {
    std::string model;
    SpecArgs spec;
    ValidateOptions options;
    std::vector<std::string> only;
    std::string session;
    std::string png;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "validate", "Fine-tune the original and the patched model side by side and compare their losses");
  cmd->add_option("model", a->model, "TorchScript model (.pt), unpatched")->required();
  addSpecOptions(cmd, a->spec);
  cmd->add_option("--steps", a->options.steps, "Training steps of each model")
      ->check(CLI::Range(4, 100000))
      ->capture_default_str();
  cmd->add_option("--tolerance", a->options.tolerance, "The verdict passes when |loss ratio - 1| <= this")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option(flagOf("only"), a->only, "Patch only these sites: a kind, a module path or #ORDINAL");
  addBitsOption(cmd, a->options.selection.bits);
  cmd->add_option("--patched", a->options.patchedPath,
                  "Validate this patched model (from `lowmem patch`) instead of patching MODEL here");
  cmd->add_option("--data", a->options.dataPath,
                  "Train on these batches: a torch.save'd list of (input..., target) tuples (class indices: "
                  "cross-entropy; floats of the output's size: MSE)");
  cmd->add_option("-o,--output", a->session, "Store the curves and the verdict in this session (.db)");
  cmd->add_option("--png", a->png, "Render the loss and gradient-cosine curves to this PNG");
  cmd->add_flag("--json", a->json, "Print JSON with every step");
  cmd->callback([a, &action] {
    action = [a] {
      const auto spec = resolveSpec(a->spec);
      if (!a->png.empty() && !chartsAvailable())
        throw InputError(a->png, std::string("cannot draw a PNG: ") + kNoChartsReason);
      auto inputs = specInputs(a->spec, spec);
      inputs.insert(inputs.end(), {{"the model", a->model},
                                   {"the patched model (--patched)", a->options.patchedPath},
                                   {"the data (--data)", a->options.dataPath}});
      checkOutputs(inputs, {{"the session (-o)", a->session}, {"--png", a->png}});
      if (!a->session.empty()) checkSessionToAppend(a->session);
      a->options.selection.only = a->only;
      const auto v = validateModel(a->model, spec, a->options, cliProgress());
      endProgress();
      if (!a->session.empty()) {
        writeToSession(a->session, [&](SessionWriter& w) { w.writeValidation(v); });
      }
      if (!a->png.empty()) saveValidationPng(v, a->png);
      if (a->json) {
        std::cout << validationJson(v).dump(2) << "\n";
      } else {
        writeValidationSummary(v, std::cout);
        if (!a->session.empty()) std::printf("wrote       %s\n", a->session.c_str());
        if (!a->png.empty()) std::printf("wrote       %s\n", a->png.c_str());
      }
      return v.passed ? 0 : 1;
    };
  });
}

}  // namespace lowmem::cli
