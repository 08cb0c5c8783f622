#include "service/swap_run.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <filesystem>

#include "core/atomic_file.h"
#include "core/checkpoint_pricing.h"
#include "core/comparison.h"
#include "core/error.h"
#include "core/suggestion_report.h"
#include "kernels/ops_library.h"
#include "patcher/rewriter.h"
#include "patcher/site_plans.h"
#include "patcher/verifier.h"
#include "profiler/mixed_precision.h"
#include "profiler/model_loader.h"
#include "profiler/step_setup.h"
#include "profiler/training_step.h"
#include "service/patched_model_save.h"

namespace lowmem {
namespace {

void say(const ProgressFn& progress, const char* what) {
  if (progress) progress(what);
}

int elementBytesOf(const torch::jit::Module& m) {
  for (const auto& p : m.parameters()) {
    if (at::isFloatingType(p.scalar_type())) return static_cast<int>(p.element_size());
  }
  return 4;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

bool samePath(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::exists(b, ec) && std::filesystem::equivalent(a, b, ec);
}

}  // namespace

SuggestRun suggestForModel(const std::string& modelPath, const StepSpec& spec, const SwapSelection& selection,
                           const ProgressFn& progress) {
  selection.validate();
  kernels::ensureOpsRegistered();
  SuggestRun r;
  // Under autocast each site's activations have their own dtype; the recorded input shapes say which.
  StepSpec traced = spec;
  traced.recordShapes = traced.recordShapes || spec.amp.has_value();
  r.baseline = profileModel(modelPath, traced, "baseline", progress);
  say(progress, "planning sites");
  auto module = loadModel(modelPath);
  placeModule(module, spec);
  r.elementBytes = elementBytesOf(module);
  auto plans = planSites(module, trainableParameters(module, spec.trainable));
  for (auto& plan : plans)
    plan.bits = selection.bits;
  r.suggestions = suggestSwaps(r.baseline.trace, r.baseline.profile, plans, r.elementBytes, selection.only);
  r.suggestions.checkpointing = priceCheckpointing(r.baseline.trace, r.baseline.profile);
  bool activations = false;
  for (const auto& s : r.suggestions.sites)
    activations = activations || (s.chosen && isSwappableActivationKind(s.plan.site.kind));
  for (int bits = 2; activations && bits <= 4; ++bits) {
    for (auto& plan : plans)
      plan.bits = bits;
    r.suggestions.predictedPeakByBits[bits] =
        bits == selection.bits
            ? r.suggestions.predictedPeak
            : suggestSwaps(r.baseline.trace, r.baseline.profile, plans, r.elementBytes, selection.only)
                  .predictedPeak;
  }
  return r;
}

PatchOutcome patchModelFile(const std::string& modelPath, const std::string& outputPath, const StepSpec& spec,
                            const SwapSelection& selection, const ProgressFn& progress) {
  if (outputPath == modelPath || samePath(modelPath, outputPath))
    throw InputError(outputPath, "is the input model; write the patched model to a new file");
  checkOutputPath(outputPath);
  PatchOutcome out;
  out.suggested = suggestForModel(modelPath, spec, selection, progress);
  std::vector<SitePlan> chosen;
  for (const auto& s : out.suggested.suggestions.sites) {
    if (s.chosen) chosen.push_back(s.plan);
  }
  if (chosen.empty()) {
    throw InputError(modelPath,
                     "no site to patch: none is valid and saves memory under this step spec (see "
                     "`lowmem suggest`)");
  }
  say(progress, "rewriting");
  auto patched = loadModel(modelPath);
  placeModule(patched, spec);
  const auto rewrite = applyRewrites(patched, chosen);
  out.rewrites = rewrite.rewrites;
  out.foldedParameters = rewrite.foldedParameters;
  savePatchedModel(modelPath, patched, outputPath, spec, rewrite.foldedParameters, out, progress);
  return out;
}

void savePatchedModel(const std::string& modelPath, torch::jit::Module& patched,
                      const std::string& outputPath, const StepSpec& spec,
                      const std::vector<std::string>& foldedList, PatchOutcome& out,
                      const ProgressFn& progress) {
  const std::set<std::string> folded(foldedList.begin(), foldedList.end());
  writeFileAtomically(
      outputPath, [&](const std::string& tmp) { patched.save(tmp); },
      [&](const std::string& tmp) {
        say(progress, "verifying");
        auto original = loadModel(modelPath);
        placeModule(original, spec);
        auto reloaded = loadModel(tmp);
        placeModule(reloaded, spec);
        const auto inputs = stepInputs(original, modelPath, spec);
        at::set_num_threads(stepThreads(spec));
        const auto options = stepOptions(spec);
        const auto stepForward = [&options](torch::jit::Module& m, const std::vector<c10::IValue>& in) {
          AutocastScope autocast(options.device, options.autocast);
          return m.forward(in);
        };
        const auto v = verifyPatch(original, reloaded, inputs, options.trainable, folded, stepForward);
        out.forwardOk = v.forwardOk;
        out.maxAbsDiff = v.maxAbsDiff;
        out.tolerance = v.tolerance;
        out.toleranceRule = v.toleranceRule;
        out.minCosine = v.minCosine;
        out.overallCosine = v.overallCosine;
        out.worstParameter = v.worstParameter;
        out.worstCosine = v.worstCosine;
        out.worstRelativeNorm = v.worstRelativeNorm;
        out.gradients.clear();
        for (const auto& g : v.gradients)
          out.gradients.push_back({g.parameter, g.cosine, g.relError, g.note});
        if (!v.forwardOk) {
          throw Error(ExitCode::kFailure,
                      outputPath + ": verification failed, nothing saved: forward outputs differ by " +
                          c10::str(v.maxAbsDiff) + " (" + v.toleranceRule + ")");
        }
      });
}

MeasuredPatch measurePatched(const std::string& modelPath, const std::string& patchedPath,
                             const StepSpec& spec, int timingRounds, const ProgressFn& progress) {
  kernels::ensureOpsRegistered();
  MeasuredPatch m;
  m.patched = profileModel(patchedPath, spec, "patched", progress);
  say(progress, "timing both models");
  auto base = loadModel(modelPath);
  auto patched = loadModel(patchedPath);
  placeModule(base, spec);
  placeModule(patched, spec);
  const auto inputs = stepInputs(base, modelPath, spec);
  const auto options = stepOptions(spec);
  at::set_num_threads(stepThreads(spec));
  std::vector<double> a, b;
  for (int i = 0; i < timingRounds; ++i) {
    auto ta = timeTrainingSteps(base, inputs, options, 1);
    auto tb = timeTrainingSteps(patched, inputs, options, 1);
    a.push_back(ta.front());
    b.push_back(tb.front());
  }
  m.timing = {median(a), median(b), timingRounds};
  return m;
}

nlohmann::json verificationJson(const PatchOutcome& p) {
  nlohmann::json grads = nlohmann::json::array();
  for (const auto& g : p.gradients)
    grads.push_back(
        {{"parameter", g.parameter}, {"cosine", g.cosine}, {"rel_error", g.relError}, {"note", g.note}});
  return {{"forward_ok", p.forwardOk},
          {"max_abs_diff", p.maxAbsDiff},
          {"tolerance", p.tolerance},
          {"tolerance_rule", p.toleranceRule},
          {"min_cosine", p.minCosine},
          {"overall_cosine", p.overallCosine},
          {"worst_parameter", p.worstParameter},
          {"worst_cosine", p.worstCosine},
          {"worst_relative_norm", p.worstRelativeNorm},
          {"gradients", grads}};
}

nlohmann::json comparisonRecord(const PatchOutcome& p, const StepTiming& t) {
  nlohmann::json record = {{"suggestions", suggestionsJson(p.suggested.suggestions)},
                           {"rewrites", p.rewrites},
                           {"folded_parameters", p.foldedParameters},
                           {"verification", verificationJson(p)}};
  if (t.rounds > 0) {
    record["timing"] = {{"baseline_seconds", t.baselineSeconds},
                        {"patched_seconds", t.patchedSeconds},
                        {"rounds", t.rounds},
                        {"ratio", t.ratio()}};
  }
  return record;
}

void saveComparisonSession(const std::string& sessionPath, const SessionRun& baseline,
                           const SessionRun& patched, const nlohmann::json& record, SessionWrite mode) {
  auto write = [&](const std::string& path) {
    SessionWriter w(path);
    w.writeRun(baseline.info, baseline.trace, baseline.profile);
    w.writeRun(patched.info, patched.trace, patched.profile);
    w.writeComparison(baseline.info.label, patched.info.label, record);
  };
  std::error_code ec;
  if (mode == SessionWrite::kAppend && std::filesystem::exists(sessionPath, ec)) {
    write(sessionPath);
    return;
  }
  writeFileAtomically(sessionPath, write, [](const std::string& tmp) { SessionReader check(tmp); });
}

PatchComparison patchAndCompare(const std::string& modelPath, const std::string& outputPath,
                                const StepSpec& spec, const SwapSelection& selection,
                                const std::string& sessionPath, int timingRounds, SessionWrite mode,
                                const ProgressFn& progress) {
  PatchComparison c;
  c.patch = patchModelFile(modelPath, outputPath, spec, selection, progress);
  c.measured = measurePatched(modelPath, outputPath, spec, timingRounds, progress);
  const auto record = comparisonRecord(c.patch, c.measured.timing);
  say(progress, "writing the session");
  saveComparisonSession(sessionPath, c.patch.suggested.baseline, c.measured.patched, record, mode);
  c.comparison = comparisonJson(c.patch.suggested.baseline, c.measured.patched, record);
  return c;
}

}  // namespace lowmem
