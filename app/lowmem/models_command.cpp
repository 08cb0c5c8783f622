#include <iomanip>
#include <iostream>

#include "app/lowmem/commands.h"
#include "models/presets.h"

namespace lowmem::cli {

void addModelsCommand(CLI::App& app, Action& action) {
  auto* models = app.add_subcommand("models", "The bundled demo and test models");
  models->require_subcommand(1);

  auto* list = models->add_subcommand("list", "List the model presets");
  list->callback([&action] {
    action = [] {
      for (const auto& p : lowmem::models::modelPresets()) {
        std::cout << std::left << std::setw(13) << p.name << std::setw(7) << p.family << p.description
                  << "\n";
      }
      return 0;
    };
  });

  struct BuildArgs {
    std::string name;
    std::string output;
    std::string dtype = "float32";
    int loraRank = -1;
    uint64_t seed = 0;
    int64_t batch = 2;
  };
  auto args = std::make_shared<BuildArgs>();
  auto* build = models->add_subcommand("build", "Build a preset and save it as a TorchScript .pt file");
  build->add_option("name", args->name, "Preset name (see `lowmem models list`)")->required();
  build->add_option("-o,--output", args->output, "Output .pt file")->required();
  build->add_option("--dtype", args->dtype, "Parameter dtype: float32, bfloat16, float16, float64")
      ->capture_default_str();
  build->add_option("--lora-rank", args->loraRank, "LoRA rank (0: no adapters, all parameters train)")
      ->check(CLI::Range(0, 4096));
  build->add_option("--seed", args->seed, "Seed of the random weights")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 62))  // CLI11 would wrap -1 to 2^64 - 1
      ->capture_default_str();
  build->add_option("--batch", args->batch, "Batch size written into the model's example input spec")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20))
      ->capture_default_str();
  build->callback([args, &action] {
    action = [args] {
      const auto& preset = lowmem::models::findPreset(args->name);
      lowmem::models::BuildOptions options;
      options.dtype = lowmem::models::parseFloatDtype(args->dtype, "--dtype");
      if (args->loraRank >= 0) options.loraRank = args->loraRank;
      options.seed = args->seed;
      options.batch = args->batch;
      lowmem::models::buildAndSave(preset, options, args->output);
      return 0;
    };
  });
}

}  // namespace lowmem::cli
