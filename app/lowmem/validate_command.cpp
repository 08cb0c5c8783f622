// `lowmem validate`: does the patched model fine-tune like the original? Both train side by side on a
// synthetic task; the verdict is the final-window loss ratio.

#include <cstdio>
#include <iostream>

#include "app/lowmem/commands.h"
#include "app/lowmem/spec_options.h"
#include "service/validate_run.h"

namespace lowmem::cli {

void addValidateCommand(CLI::App& app, Action& action) {
  struct Args {
    std::string model;
    SpecArgs spec;
    int steps = 200;
    double tolerance = 0.02;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "validate", "Fine-tune the original and the patched model side by side and compare their losses");
  cmd->add_option("model", a->model, "TorchScript model (.pt), unpatched")->required();
  addSpecOptions(cmd, a->spec);
  cmd->add_option("--steps", a->steps, "Training steps of each model")
      ->check(CLI::Range(2, 100000))
      ->capture_default_str();
  cmd->add_option("--tolerance", a->tolerance, "The verdict passes when |loss ratio - 1| <= this")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "Print JSON with every step");
  cmd->callback([a, &action] {
    action = [a] {
      const auto spec = resolveSpec(a->spec);
      const auto v = validateModel(a->model, spec, a->steps, a->tolerance, cliProgress());
      endProgress();
      if (a->json) {
        nlohmann::json steps = nlohmann::json::array();
        for (const auto& s : v.steps) {
          steps.push_back({{"baseline_loss", s.baselineLoss},
                           {"patched_loss", s.patchedLoss},
                           {"gradient_cosine", s.gradientCosine},
                           {"weight_divergence", s.weightDivergence}});
        }
        std::cout << nlohmann::json{{"task", v.task},
                                    {"steps", steps},
                                    {"window", v.window},
                                    {"loss_ratio", v.lossRatio},
                                    {"tolerance", v.tolerance},
                                    {"baseline_learned", v.baselineLearned},
                                    {"patched_learned", v.patchedLearned},
                                    {"passed", v.passed},
                                    {"rewrites", v.rewrites}}
                         .dump(2)
                  << "\n";
      } else {
        const auto& first = v.steps.front();
        const auto& last = v.steps.back();
        double minCos = 1;
        for (const auto& s : v.steps)
          minCos = std::min(minCos, s.gradientCosine);
        std::printf("task        %s\n", v.task.c_str());
        std::printf("patched     %zu sites\n", v.rewrites.size());
        std::printf("loss        baseline %.4f -> %.4f, patched %.4f -> %.4f over %zu steps\n",
                    first.baselineLoss, last.baselineLoss, first.patchedLoss, last.patchedLoss,
                    v.steps.size());
        std::printf("gradients   cosine %.4f at step 1, %.4f at the end, %.4f at worst\n",
                    first.gradientCosine, last.gradientCosine, minCos);
        std::printf("weights     relative divergence %.3g at the end\n", last.weightDivergence);
        std::printf(
            "verdict     %s: final-%d-step mean loss ratio patched/baseline %.4f (|ratio - 1| <= %.3f%s)\n",
            v.passed ? "PASS" : "FAIL", v.window, v.lossRatio, v.tolerance,
            v.baselineLearned && v.patchedLearned ? "" : "; a model did not learn");
      }
      return v.passed ? 0 : 1;
    };
  });
}

}  // namespace lowmem::cli
