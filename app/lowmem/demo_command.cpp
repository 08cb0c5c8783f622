// `lowmem demo`: the whole loop on a bundled model, the README's main job.

#include <filesystem>
#include <fstream>
#include <iostream>

#include "app/lowmem/charts.h"
#include "app/lowmem/commands.h"
#include "core/atomic_file.h"
#include "core/comparison.h"
#include "core/error.h"
#include "core/format.h"
#include "core/profile_report.h"
#include "core/step_timing.h"
#include "core/suggestion_report.h"
#include "models/presets.h"
#include "service/swap_run.h"

namespace lowmem::cli {

void addDemoCommand(CLI::App& app, Action& action) {
  struct DemoArgs {
    std::string model = models::kDemoPreset;
    std::string dir = "lowmem-demo";
    int64_t batch = 12;  // ViT-S/16 at 12 images: about a minute on a 2-core machine, 916 MiB at the peak
    int timingRounds = 7;
  };
  auto a = std::make_shared<DemoArgs>();
  auto* cmd = app.add_subcommand(
      "demo", "Build a bundled model with LoRA, profile, suggest, patch, verify, profile again and compare");
  cmd->add_option("--model", a->model, "Bundled preset (lowmem models list)")->capture_default_str();
  cmd->add_option("-o,--output", a->dir, "Directory for model, session.db, report.md, peak-before-after.png")
      ->capture_default_str();
  cmd->add_option("--batch", a->batch, "Batch of the example input")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  cmd->add_option("--timing-rounds", a->timingRounds,
                  "Alternating untraced steps per model for the time ratio")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->callback([a, &action] {
    action = [a] {
      namespace fs = std::filesystem;
      const auto& preset = models::findPreset(a->model);
      std::error_code ec;
      fs::create_directories(a->dir, ec);
      if (ec) throw InputError(a->dir, "cannot create the output directory (" + ec.message() + ")");
      const std::string model = (fs::path(a->dir) / (preset.name + ".pt")).string();
      const std::string patchedPath = (fs::path(a->dir) / (preset.name + "-patched.pt")).string();
      const std::string session = (fs::path(a->dir) / "session.db").string();
      const std::string report = (fs::path(a->dir) / "report.md").string();
      const std::string png = (fs::path(a->dir) / "peak-before-after.png").string();
      const bool drawChart = chartsAvailable();
      for (const auto& p : {model, patchedPath, session, report})
        checkOutputPath(p);
      if (drawChart) checkOutputPath(png);
      auto progress = cliProgress();
      progress("building " + preset.name);
      models::BuildOptions options;
      options.batch = a->batch;
      models::buildAndSave(preset, options, model);
      StepSpec spec;
      spec.trainable = TrainableSelection::parse("lora");
      // A demo run replaces the previous one's session.
      const auto run = patchAndCompare(model, patchedPath, spec, {}, session, a->timingRounds,
                                       SessionWrite::kReplace, progress);
      const auto& patched = run.patch;
      const auto& measured = run.measured;
      const auto& comparison = run.comparison;
      progress("writing the report");
      writeFileAtomically(report, [&](const std::string& tmp) {
        std::ofstream out(tmp);
        out << "# lowmem demo: " << preset.name << " (" << preset.description << ")\n\n"
            << "Reproduce: `lowmem demo --model " << preset.name << " --batch " << a->batch << " -o "
            << a->dir
            << "`. One fine-tuning step (LoRA parameters train, mean loss, SGD), traced before and after the "
               "patch.\n\n";
        writeComparison(comparison, ReportFormat::kMarkdown, out);
        out << "\n## Suggestions (baseline)\n\n";
        writeSuggestions(patched.suggested.suggestions, ReportFormat::kMarkdown, out);
        out << "\n";
        writeRunReport(patched.suggested.baseline, ReportFormat::kMarkdown, out);
        out << "\n";
        writeRunReport(measured.patched, ReportFormat::kMarkdown, out);
        if (drawChart)
          out << "\n![peak before and after](peak-before-after.png)\n";
        else
          out << "\nNo chart: " << kNoChartsReason << ".\n";
        if (!out) throw InputError(report, "cannot write the report");
      });
      if (drawChart) {
        progress("rendering chart");
        saveComparisonPng(patched.suggested.baseline, measured.patched, png);
      }
      endProgress();
      const int64_t before = patched.suggested.baseline.profile.peak().total;
      const int64_t after = measured.patched.profile.peak().total;
      std::printf(
          "%s: peak %s -> %s (%s), predicted %s; step time ratio %s; %zu sites patched, forward max |diff| "
          "%.3g\n",
          preset.name.c_str(), formatBytes(before).c_str(), formatBytes(after).c_str(),
          percentChange(before, after).c_str(),
          formatBytes(patched.suggested.suggestions.predictedPeak).c_str(),
          stepTimingText(stepTimingJson(measured.timing)).c_str(), patched.rewrites.size(),
          patched.verification.maxAbsDiff);
      std::printf("wrote %s, %s, %s%s%s\n", session.c_str(), report.c_str(), drawChart ? png.c_str() : "",
                  drawChart ? ", " : "", patchedPath.c_str());
      return 0;
    };
  });
}

}  // namespace lowmem::cli
