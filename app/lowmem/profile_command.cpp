#include <filesystem>
#include <fstream>
#include <iostream>

#include "app/lowmem/commands.h"
#include "app/lowmem/spec_options.h"
#include "core/atomic_file.h"
#include "core/chrome_trace.h"
#include "core/error.h"
#include "core/plan_report.h"
#include "core/profile_report.h"
#include "core/session_store.h"
#include "core/validation.h"
#include "service/profile_run.h"

namespace lowmem::cli {
namespace {

struct ProfileArgs {
  std::string model;
  std::string output;
  std::string label = "baseline";
  SpecArgs spec;
  bool json = false;
  std::string chromeTracePath;
};

void writeChromeTrace(const std::string& path, const SessionRun& run) {
  writeFileAtomically(path, [&](const std::string& tmp) {
    std::ofstream out(tmp);
    out << chromeTrace(run).dump();
    if (!out) throw InputError(path, "cannot write the Chrome trace");
  });
}

// A new session is written beside its destination and renamed, so it is complete or absent; an existing one
// gets the run appended in one transaction.
void saveRun(const std::string& path, const SessionRun& run) {
  writeToSession(path, [&](SessionWriter& w) { w.writeRun(run.info, run.trace, run.profile); });
}

}  // namespace

void addProfileCommands(CLI::App& app, Action& action) {
  auto a = std::make_shared<ProfileArgs>();
  auto* cmd = app.add_subcommand("profile", "Trace one fine-tuning step and store it in a session file");
  cmd->add_option("model", a->model, "TorchScript model (.pt)")->required();
  cmd->add_option("-o,--output", a->output, "Session file (.db); an existing session gets a new run")
      ->required();
  cmd->add_option("--label", a->label, "Name of the run in the session")->capture_default_str();
  addSpecOptions(cmd, a->spec);
  cmd->add_flag("--json", a->json, "Print the summary as JSON");
  cmd->add_option("--chrome-trace", a->chromeTracePath,
                  "Also write ops and memory counters as a Chrome trace (Perfetto)");
  cmd->callback([a, &action] {
    action = [a] {
      const auto spec = resolveSpec(a->spec);
      auto inputs = specInputs(a->spec, spec);
      inputs.push_back({"the model", a->model});
      checkOutputs(inputs, {{"the session (-o)", a->output}, {"--chrome-trace", a->chromeTracePath}});
      checkSessionToAppend(a->output, {a->label});
      const auto progress = cliProgress();
      const auto run = profileModel(a->model, spec, a->label, progress);
      progress("writing session");
      saveRun(a->output, run);
      endProgress();
      if (!a->chromeTracePath.empty()) writeChromeTrace(a->chromeTracePath, run);
      if (a->json) {
        std::cout << runReportJson(run).dump(2) << "\n";
      } else {
        writeRunReport(run, ReportFormat::kText, std::cout);
        std::cout << "\nsession     " << a->output << " (run '" << a->label << "')\n";
      }
      return 0;
    };
  });

  struct ReportArgs {
    std::string session;
    std::string format = "text";
    std::string run;
    std::string chromeTracePath;
  };
  auto r = std::make_shared<ReportArgs>();
  auto* report = app.add_subcommand("report", "Summarise a session's runs");
  report->add_option("session", r->session, "Session file (.db)")->required();
  report->add_option("--format", r->format, "text, json or markdown")
      ->check(CLI::IsMember({"text", "json", "markdown"}))
      ->capture_default_str();
  report->add_option("--run", r->run, "Run label (default: every run)");
  report->add_option("--chrome-trace", r->chromeTracePath,
                     "Write the (first or --run) run as a Chrome trace");
  report->callback([r, &action] {
    action = [r] {
      checkOutputs({{"the session", r->session}}, {{"--chrome-trace", r->chromeTracePath}});
      SessionReader reader(r->session);
      std::vector<std::string> labels;
      if (!r->run.empty()) {
        labels.push_back(r->run);
      } else {
        for (const auto& info : reader.runs())
          labels.push_back(info.label);
      }
      nlohmann::json runs = nlohmann::json::array();
      for (size_t i = 0; i < labels.size(); ++i) {
        const auto run = reader.load(labels[i]);
        if (r->format == "json") {
          runs.push_back(runReportJson(run));
        } else {
          if (i) std::cout << "\n";
          writeRunReport(run, r->format == "markdown" ? ReportFormat::kMarkdown : ReportFormat::kText,
                         std::cout);
        }
      }
      if (r->format == "json") {
        // What the text shows: the runs and, unless one run was asked for, the validations.
        nlohmann::json validations = nlohmann::json::array(), plans = nlohmann::json::array();
        if (r->run.empty()) {
          for (const auto& v : reader.validations())
            validations.push_back(validationJson(v));
          for (const auto& p : reader.plans())
            plans.push_back(p);
        }
        std::cout << nlohmann::json{{"runs", runs}, {"validations", validations}, {"plans", plans}}.dump(2)
                  << "\n";
      } else if (r->run.empty()) {
        // A session written by `validate -o` holds validations and maybe no run: show them, never nothing.
        const auto validations = reader.validations();
        for (size_t i = 0; i < validations.size(); ++i) {
          if (!labels.empty() || i) std::cout << "\n";
          std::cout << (r->format == "markdown" ? "## Validation " : "validation  ") << i + 1 << " of "
                    << validations.size() << "\n";
          writeValidationSummary(validations[i], std::cout);
        }
        const auto plans = reader.plans();
        for (size_t i = 0; i < plans.size(); ++i) {
          if (!labels.empty() || !validations.empty() || i) std::cout << "\n";
          std::cout << (r->format == "markdown" ? "## Plan " : "plan        ") << i + 1 << " of "
                    << plans.size() << "\n";
          writePlanText(planFromJson(plans[i], r->session), std::cout);
        }
        if (labels.empty() && validations.empty() && plans.empty())
          std::cout << "the session holds no run, validation or plan\n";
      }
      if (!r->chromeTracePath.empty()) writeChromeTrace(r->chromeTracePath, reader.load(r->run));
      return 0;
    };
  });
}

}  // namespace lowmem::cli
