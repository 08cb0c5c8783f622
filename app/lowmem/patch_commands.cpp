#include <iostream>
#include <map>
#include <vector>

#include "app/lowmem/commands.h"
#include "app/lowmem/spec_options.h"
#include "core/atomic_file.h"
#include "core/comparison.h"
#include "core/error.h"
#include "core/format.h"
#include "core/suggestion_report.h"
#include "service/swap_run.h"

namespace lowmem::cli {
namespace {

// The gradients worst first; the ones whose agreement proves nothing are counted by kind, not listed.
void writeVerification(const Verification& p, std::ostream& out) {
  constexpr size_t kListed = 10;
  out << "verification  forward " << (p.forwardOk ? "ok" : "FAILED") << ": max |diff| " << p.maxAbsDiff
      << " (" << p.toleranceRule << ", bound " << p.tolerance << ")\n";
  std::map<GradientAgreement, size_t> flagged;
  std::vector<const GradientCheck*> compared;
  for (const auto& g : p.gradients) {
    if (g.agreement == GradientAgreement::kCompared) {
      compared.push_back(&g);
    } else {
      ++flagged[g.agreement];
    }
  }
  const size_t reparameterised = flagged.count(GradientAgreement::kReparameterised)
                                     ? flagged.at(GradientAgreement::kReparameterised)
                                     : 0;
  out << "gradients     cosine " << p.overallCosine << " over the " << p.gradients.size() - reparameterised
      << " trainable gradients taken together (the step's direction";
  if (reparameterised > 0) out << "; " << reparameterised << " reparameterised by a fold left out";
  out << ")\n";
  if (!p.worstParameter.empty()) {
    out << "              lowest " << p.worstCosine << " on " << p.worstParameter
        << ", whose gradient norm is " << p.worstRelativeNorm << " of the largest\n";
  }
  if (!compared.empty()) {
    out << "  worst first: cos = cosine with the original's gradient, rel = |g_patched - g_original| / "
           "|g_original|, norm = |g_original| / the largest\n";
  }
  for (size_t i = 0; i < compared.size() && i < kListed; ++i) {
    const auto& g = *compared[i];
    out << "  " << g.parameter << "  cos " << g.cosine << "  rel " << g.relError << "  norm "
        << g.relativeNorm << "\n";
  }
  if (compared.size() > kListed)
    out << "  ... " << compared.size() - kListed << " more (--json lists every one)\n";
  static const std::map<GradientAgreement, const char*> kWhy = {
      {GradientAgreement::kNearZero, "near zero (under 1e-4 of the largest: their cosine is rounding)"},
      {GradientAgreement::kBothZero,
       "zero in both models (e.g. a LoRA A while its B is zero: proves nothing)"},
      {GradientAgreement::kReparameterised, "reparameterised by a fold (another quantity, not compared)"},
      {GradientAgreement::kMissing, "without a gradient in the patched model (unused after a fold)"}};
  for (const auto& [agreement, count] : flagged)
    out << "  not compared: " << count << " " << kWhy.at(agreement) << "\n";
}

// `lowmem suggest`: profile, plan and predict; nothing is written.
void addSuggestCommand(CLI::App& app, Action& action) {
  struct SuggestArgs {
    std::string model;
    SpecArgs spec;
    std::vector<std::string> only;
    int bits = 2;
    bool json = false;
  };
  auto s = std::make_shared<SuggestArgs>();
  auto* suggest =
      app.add_subcommand("suggest", "Profile a step and say which sites to swap, with predicted savings");
  suggest->add_option("model", s->model, "TorchScript model (.pt)")->required();
  addSpecOptions(suggest, s->spec);
  suggest->add_option(flagOf("only"), s->only,
                      "Consider only these sites: a kind, a module path or #ORDINAL");
  addBitsOption(suggest, s->bits);
  suggest->add_flag("--json", s->json, "Print JSON");
  suggest->callback([s, &action] {
    action = [s] {
      const auto spec = resolveSpec(s->spec);
      const auto r = suggestForModel(s->model, spec, {s->only, s->bits}, cliProgress());
      endProgress();
      if (s->json) {
        std::cout << suggestionsJson(r.suggestions).dump(2) << "\n";
      } else {
        writeSuggestions(r.suggestions, ReportFormat::kText, std::cout);
      }
      return 0;
    };
  });
}

// What `patch` prints: JSON, or the suggestions, the verification and the comparison as text.
void printPatch(const PatchComparison& run, const std::string& output, const std::string& session,
                bool json) {
  const auto& r = run.patch;
  const auto& comparison = run.comparison;
  if (json) {
    std::cout << nlohmann::json{{"suggestions", suggestionsJson(r.suggested.suggestions)},
                                {"rewrites", r.rewrites},
                                {"folded_parameters", r.foldedParameters},
                                {"verification", verificationJson(r.verification)},
                                {"output", output},
                                {"saved_dtype",
                                 r.savedDtype ? nlohmann::json(nameOf(*r.savedDtype)) : nlohmann::json()},
                                {"saved_input_hint", r.savedInputHint},
                                {"comparison", comparison}}
                     .dump(2)
              << "\n";
  } else {
    writeSuggestions(r.suggested.suggestions, ReportFormat::kText, std::cout);
    std::cout << "\n";
    writeVerification(r.verification, std::cout);
    std::cout << "\nwrote " << output << " (" << r.rewrites.size() << " sites rewritten)\n";
    if (r.savedDtype) {
      // The cast is saved with the model: float32 inputs would no longer match its parameters.
      std::cout << "note: its parameters are " << nameOf(*r.savedDtype) << " (--dtype); it takes "
                << nameOf(*r.savedDtype) << " inputs"
                << (r.savedInputHint.empty() ? "" : " (recorded input spec now " + r.savedInputHint + ")")
                << "\n";
    }
    if (!comparison.is_null()) {
      std::cout << "\n";
      writeComparison(comparison, ReportFormat::kText, std::cout);
      std::cout << "\nsession " << session << " (runs '" << r.suggested.baseline.info.label << "' and '"
                << run.measured.patched.info.label << "')\n";
    }
  }
}

// `lowmem patch`: rewrite, verify, save; with --session also measure and store the comparison.
void addPatchCommand(CLI::App& app, Action& action) {
  struct PatchArgs {
    std::string model;
    std::string output;
    SpecArgs spec;
    std::vector<std::string> only;
    int bits = 2;
    bool json = false;
    std::string session;
    int timingRounds = 5;
  };
  auto p = std::make_shared<PatchArgs>();
  auto* patch = app.add_subcommand("patch", "Swap the suggested sites, verify, and save the patched model");
  patch->add_option("model", p->model, "TorchScript model (.pt)")->required();
  patch->add_option("-o,--output", p->output, "Patched model (.pt); never the input file")->required();
  addSpecOptions(patch, p->spec);
  patch->add_option(flagOf("only"), p->only, "Patch only these sites: a kind, a module path or #ORDINAL");
  addBitsOption(patch, p->bits);
  patch->add_flag("--json", p->json, "Print JSON");
  patch->add_option(
      "--session", p->session,
      "Also profile the patched model and store both runs and the comparison in this session (.db)");
  patch
      ->add_option("--timing-rounds", p->timingRounds,
                   "Alternating untraced steps per model for the step time ratio")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  patch->callback([p, &action] {
    action = [p] {
      const auto spec = resolveSpec(p->spec);
      auto inputs = specInputs(p->spec, spec);
      inputs.push_back({"the model", p->model});
      checkOutputs(inputs, {{"the patched model (-o)", p->output}, {"the session (--session)", p->session}});
      const SwapSelection selection{p->only, p->bits};
      PatchComparison run;
      if (p->session.empty()) {
        run.patch = patchModelFile(p->model, p->output, spec, selection, cliProgress());
      } else {
        run = patchAndCompare(p->model, p->output, spec, selection, p->session, p->timingRounds,
                              SessionWrite::kAppend, cliProgress());
      }
      endProgress();
      printPatch(run, p->output, p->session, p->json);
      return 0;
    };
  });
}

// `lowmem compare`: the comparisons a session holds.
void addCompareCommand(CLI::App& app, Action& action) {
  struct CompareArgs {
    std::string session;
    std::string format = "text";
    std::string with;  // a second session: diff its run against this one's
    std::string run;
    std::string withRun;
  };
  auto c = std::make_shared<CompareArgs>();
  auto* compare =
      app.add_subcommand("compare", "Baseline vs patched runs of a session: peaks, categories, sites, time");
  compare->add_option("session", c->session, "Session file (.db) written by patch --session or demo")
      ->required();
  compare->add_option("--format", c->format, "text, json or markdown")
      ->check(CLI::IsMember({"text", "json", "markdown"}))
      ->capture_default_str();
  compare->add_option(
      "--with", c->with,
      "Another session (.db): diff its run against this session's (two profiles of any models)");
  compare->add_option("--run", c->run, "With --with: this session's run (default: its first)");
  compare->add_option("--with-run", c->withRun, "With --with: the other session's run (default: its first)");
  compare->callback([c, &action] {
    action = [c] {
      const auto format = c->format == "markdown" ? ReportFormat::kMarkdown : ReportFormat::kText;
      if (!c->with.empty()) {
        // Two separate sessions: no patch record, so no prediction, timing or verification to show.
        const auto j = comparisonJson(SessionReader(c->session).load(c->run),
                                      SessionReader(c->with).load(c->withRun), nlohmann::json::object());
        if (c->format == "json") {
          std::cout << j.dump(2) << "\n";
        } else {
          writeComparison(j, format, std::cout);
        }
        return 0;
      }
      if (!c->run.empty() || !c->withRun.empty())
        throw SettingError("run", "--run and --with-run choose the runs of a diff; give --with SESSION");
      SessionReader reader(c->session);
      const auto stored = reader.comparisons();
      if (stored.empty()) {
        throw InputError(c->session,
                         "has no comparison (write one with `lowmem patch --session` or `lowmem demo`)");
      }
      nlohmann::json all = nlohmann::json::array();
      for (size_t i = 0; i < stored.size(); ++i) {
        nlohmann::json j;
        try {
          j = comparisonJson(reader.load(stored[i].baselineLabel), reader.load(stored[i].patchedLabel),
                             stored[i].record);
        } catch (const nlohmann::json::exception& e) {
          // A record of the wrong shape (crafted, or from a build that wrote another): named, not a raw
          // [json.exception...].
          throw InputError(c->session, "corrupt session: comparison " + std::to_string(i + 1) +
                                           " does not have the recorded fields (" + firstLine(e.what()) +
                                           ")");
        }
        if (c->format == "json") {
          all.push_back(j);
          continue;
        }
        if (i) std::cout << "\n";
        writeComparison(j, c->format == "markdown" ? ReportFormat::kMarkdown : ReportFormat::kText,
                        std::cout);
      }
      if (c->format == "json") std::cout << all.dump(2) << "\n";
      return 0;
    };
  });
}

}  // namespace

void addPatchCommands(CLI::App& app, Action& action) {
  addSuggestCommand(app, action);
  addPatchCommand(app, action);
  addCompareCommand(app, action);
}

}  // namespace lowmem::cli
