#include "service/swap_run.h"

#include <cstdlib>

#include <ATen/Parallel.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/atomic_file.h"
#include "core/checkpoint_pricing.h"
#include "core/comparison.h"
#include "core/error.h"
#include "core/output_guard.h"
#include "core/suggestion_report.h"
#include "kernels/ops_library.h"
#include "patcher/rewriter.h"
#include "patcher/site_plans.h"
#include "patcher/verifier.h"
#include "profiler/executor_mode.h"
#include "profiler/mixed_precision.h"
#include "profiler/model_loader.h"
#include "profiler/step_setup.h"
#include "profiler/training_step.h"
#include "service/module_runs.h"
#include "service/patched_model_records.h"

namespace lowmem {
namespace {

void say(const ProgressFn& progress, const std::string& what) {
  if (progress) progress(what);
}

}  // namespace

std::vector<SitePlan> sitePlansFor(const torch::jit::Module& module, const StepSpec& spec) {
  auto plans = planSites(module, trainableParameters(module, spec.trainable));
  // scripts/gpu-check sets this for its whole-model attention runs, which are how the kernel gets checked.
  const bool checking = std::getenv("LOWMEM_CHECK_GPU_ATTENTION") != nullptr;
  refuseAttentionOffCpu(plans, spec.device == DeviceKind::kCpu || checking);
  refuseAttentionCpuOnly(plans, spec.device == DeviceKind::kCpu);
  return plans;
}

int elementBytesOf(const torch::jit::Module& m) {
  for (const auto& p : m.parameters()) {
    if (at::isFloatingType(p.scalar_type())) return static_cast<int>(p.element_size());
  }
  return 4;
}

SuggestRun suggestForModel(const std::string& modelPath, const StepSpec& spec, const SwapSelection& selection,
                           const ProgressFn& progress) {
  selection.validate();
  kernels::ensureOpsRegistered();
  SuggestRun r;
  say(progress, "loading model");
  // One load for the plans and the profile: the plans read the code and the trainable selection, which the
  // profiled step does not change.
  auto module = loadModel(modelPath);
  say(progress, "planning sites");
  auto plans = sitePlansFor(module, spec);
  // Under autocast each site's activations have their own dtype, and an attention's prediction needs its
  // tensors' sizes and storages: the recorded input shapes say which.
  StepSpec traced = spec;
  traced.recordShapes = traced.recordShapes || spec.amp.has_value() || anyValidAttention(plans);
  traced.validate();
  placeModule(module, traced);
  r.baseline = profileLoadedModel(module, modelPath, traced, "baseline", progress);
  r.elementBytes = elementBytesOf(module);
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

namespace {

PatchOutcome patchKeeping(const std::string& modelPath, const std::string& outputPath, const StepSpec& spec,
                          const SwapSelection& selection, const ProgressFn& progress, VerifiedModels* keep) {
  if (sameFile(modelPath, outputPath))
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
  // Fresh from the file: the profiled copy trained a step, and the rewrite changes the types' code.
  auto patched = loadModel(modelPath);
  placeModule(patched, spec);
  const auto rewrite = applyRewrites(patched, chosen);
  out.rewrites = rewrite.rewrites;
  out.foldedParameters = rewrite.foldedParameters;
  recordBaseModel(patched, modelPath);
  if (spec.dtype) {
    out.savedDtype = spec.dtype;
    out.savedInputHint = retypeInputHint(patched, *spec.dtype);
  }
  savePatchedModel(modelPath, patched, outputPath, spec, rewrite.foldedParameters, out.verification, progress,
                   keep);
  return out;
}

// `verified`: the two models verification loaded, timed instead of loading them again.
MeasuredPatch measureWith(const std::string& modelPath, const std::string& patchedPath, const StepSpec& spec,
                          int timingRounds, const ProgressFn& progress, VerifiedModels* verified) {
  kernels::ensureOpsRegistered();
  MeasuredPatch m;
  m.patched = profileModel(patchedPath, spec, "patched", progress);
  say(progress, "timing both models");
  VerifiedModels loaded;
  if (!verified) {
    loaded.original = loadModel(modelPath);
    loaded.patched = loadModel(patchedPath);
    placeModule(loaded.original, spec);
    placeModule(loaded.patched, spec);
    verified = &loaded;
  }
  const auto inputs = stepInputs(verified->original, modelPath, spec);
  const auto options = stepOptions(spec);
  at::set_num_threads(stepThreads(spec));
  std::vector<double> a, b;
  for (int i = 0; i < timingRounds; ++i) {
    say(progress, "timing round " + std::to_string(i + 1) + " of " + std::to_string(timingRounds));
    a.push_back(timeTrainingSteps(verified->original, inputs, options, 1).front());
    b.push_back(timeTrainingSteps(verified->patched, inputs, options, 1).front());
  }
  m.timing = {a, b};
  return m;
}

}  // namespace

PatchOutcome patchModelFile(const std::string& modelPath, const std::string& outputPath, const StepSpec& spec,
                            const SwapSelection& selection, const ProgressFn& progress) {
  return patchKeeping(modelPath, outputPath, spec, selection, progress, nullptr);
}

void savePatchedModel(const std::string& modelPath, torch::jit::Module& patched,
                      const std::string& outputPath, const StepSpec& spec,
                      const std::vector<std::string>& foldedList, Verification& verification,
                      const ProgressFn& progress, VerifiedModels* keep) {
  const std::set<std::string> folded(foldedList.begin(), foldedList.end());
  writeFileAtomically(
      outputPath, [&](const std::string& tmp) { saveModel(patched, tmp); },
      [&](const std::string& tmp) {
        say(progress, "verifying");
        // The step's executor mode from the models' first run on: LibTorch fixes a method's graph then, and
        // the timing that may reuse them runs in it.
        const ExecutorModeGuard executorMode(spec.graphExecutorOptimize);
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
        verification = verifyPatch(original, reloaded, inputs, options.trainable, folded, stepForward);
        if (!verification.forwardOk) {
          throw Error(ExitCode::kFailure,
                      outputPath + ": verification failed, nothing saved: forward outputs differ by " +
                          c10::str(verification.maxAbsDiff) + " (" + verification.toleranceRule + ")");
        }
        if (keep) *keep = {original, reloaded};
      });
}

MeasuredPatch measurePatched(const std::string& modelPath, const std::string& patchedPath,
                             const StepSpec& spec, int timingRounds, const ProgressFn& progress) {
  return measureWith(modelPath, patchedPath, spec, timingRounds, progress, nullptr);
}

nlohmann::json comparisonRecord(const PatchOutcome& p, const StepTiming& t) {
  nlohmann::json record = {{"suggestions", suggestionsJson(p.suggested.suggestions)},
                           {"rewrites", p.rewrites},
                           {"folded_parameters", p.foldedParameters},
                           {"verification", verificationJson(p.verification)}};
  if (t.measured()) record["timing"] = stepTimingJson(t);
  return record;
}

std::pair<std::string, std::string> freeRunLabels(const std::string& sessionPath, SessionWrite mode) {
  std::error_code ec;
  if (mode == SessionWrite::kReplace || !std::filesystem::exists(sessionPath, ec))
    return {"baseline", "patched"};
  // A damaged session is refused here, before any work, rather than added to.
  const SessionReader reader(sessionPath);
  reader.checkWhole();
  std::set<std::string> taken;
  for (const auto& r : reader.runs())
    taken.insert(r.label);
  for (int n = 1;; ++n) {
    const std::string suffix = n == 1 ? "" : "-" + std::to_string(n);
    if (!taken.count("baseline" + suffix) && !taken.count("patched" + suffix))
      return {"baseline" + suffix, "patched" + suffix};
  }
}

void saveComparisonSession(const std::string& sessionPath, const SessionRun& baseline,
                           const SessionRun& patched, const nlohmann::json& record, SessionWrite mode) {
  // Both runs and the comparison in one transaction: a failure leaves no orphan run behind.
  auto write = [&](SessionWriter& w) {
    w.inOneTransaction([&] {
      w.writeRun(baseline.info, baseline.trace, baseline.profile);
      w.writeRun(patched.info, patched.trace, patched.profile);
      w.writeComparison(baseline.info.label, patched.info.label, record);
    });
  };
  if (mode == SessionWrite::kAppend) {
    writeToSession(sessionPath, write);
    return;
  }
  writeFileAtomically(
      sessionPath,
      [&](const std::string& tmp) {
        SessionWriter w(tmp);
        write(w);
      },
      [](const std::string& tmp) { SessionReader check(tmp); });
}

PatchComparison patchAndCompare(const std::string& modelPath, const std::string& outputPath,
                                const StepSpec& spec, const SwapSelection& selection,
                                const std::string& sessionPath, int timingRounds, SessionWrite mode,
                                const ProgressFn& progress) {
  // The session is read before any work: runs it already holds keep their labels, the new ones take the next
  // free pair ("baseline-2", "patched-2"), and an unreadable session stops here, not after the model is
  // written.
  const auto labels = freeRunLabels(sessionPath, mode);
  PatchComparison c;
  VerifiedModels verified;
  c.patch = patchKeeping(modelPath, outputPath, spec, selection, progress, &verified);
  c.measured = measureWith(modelPath, outputPath, spec, timingRounds, progress, &verified);
  c.patch.suggested.baseline.info.label = labels.first;
  c.measured.patched.info.label = labels.second;
  const auto record = comparisonRecord(c.patch, c.measured.timing);
  say(progress, "writing the session");
  saveComparisonSession(sessionPath, c.patch.suggested.baseline, c.measured.patched, record, mode);
  c.comparison = comparisonJson(c.patch.suggested.baseline, c.measured.patched, record);
  return c;
}

}  // namespace lowmem
