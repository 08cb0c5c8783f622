#include <iostream>

#include "app/lowmem/commands.h"
#include "core/info_report.h"
#include "service/model_description.h"

namespace lowmem::cli {

void addInfoCommand(CLI::App& app, Action& action) {
  struct Options {
    std::string model;
    std::string trainable = "saved";
    bool json = false;
    int depth = -1;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd =
      app.add_subcommand("info", "Module tree, parameters and swap-candidate sites of a TorchScript model");
  cmd->add_option("model", opts->model, "TorchScript model (.pt)")->required();
  cmd->add_option("--trainable", opts->trainable,
                  "Which parameters train: saved (the model's flags), all, lora, none, or a regex over names")
      ->capture_default_str();
  cmd->add_flag("--json", opts->json, "Print JSON instead of text");
  cmd->add_option("--depth", opts->depth, "Module tree depth shown in text output (-1: all)")
      ->capture_default_str();
  cmd->callback([opts, &action] {
    action = [opts] {
      auto summary = describeModel(opts->model, TrainableSelection::parse(opts->trainable));
      if (opts->json) {
        std::cout << infoJson(summary).dump(2) << "\n";
      } else {
        writeInfoText(summary, InfoReportOptions{opts->depth}, std::cout);
      }
      return 0;
    };
  });
}

}  // namespace lowmem::cli
