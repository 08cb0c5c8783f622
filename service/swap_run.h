#pragma once
// The patcher's use cases for the CLI and the GUI: suggest swaps from a profiled baseline, patch a model file
// (rewrite, verify, save atomically), and measure the patched model against the baseline under the same spec.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/applied_rewrite.h"
#include "core/session_store.h"
#include "core/step_spec.h"
#include "core/step_timing.h"
#include "core/suggestions.h"
#include "core/verification.h"
#include "service/profile_run.h"

namespace lowmem {

struct SuggestRun {
  SessionRun baseline;
  Suggestions suggestions;
  int elementBytes = 4;
};

// Profiles the model under `spec` (label "baseline") and plans every site. Errors as profileModel, and
// InputError("--only") for a bad selection.
SuggestRun suggestForModel(const std::string& modelPath, const StepSpec& spec, const SwapSelection& selection,
                           const ProgressFn& progress = {});

struct PatchOutcome {
  SuggestRun suggested;
  std::vector<AppliedRewrite> rewrites;
  std::vector<std::string> foldedParameters;
  Verification verification;  // of the saved file against the original
  // Set when --dtype cast the saved model: it now takes inputs of that dtype, and records so.
  std::optional<Dtype> savedDtype;
  std::string savedInputHint;  // the retyped hint; "" when the model records none
};

// Suggests, rewrites a fresh copy of the model with the chosen sites, saves it to a temporary file beside
// `outputPath`, reloads it, verifies it against the original on the spec's inputs, and renames it into place
// only when the forward check passes (Error(kFailure) otherwise, nothing written). Refuses to write over the
// input model, and a model already patched at a chosen site (InputError).
PatchOutcome patchModelFile(const std::string& modelPath, const std::string& outputPath, const StepSpec& spec,
                            const SwapSelection& selection, const ProgressFn& progress = {});

// The patched model profiled under the same spec (label "patched"), and the untraced step time of both models
// measured in this process, alternating.
struct MeasuredPatch {
  SessionRun patched;
  StepTiming timing;
};
MeasuredPatch measurePatched(const std::string& modelPath, const std::string& patchedPath,
                             const StepSpec& spec, int timingRounds, const ProgressFn& progress = {});

// What a session keeps of a patch: suggestions, rewrites, verification and timing (docs/session-format.md).
nlohmann::json comparisonRecord(const PatchOutcome& patch, const StepTiming& timing);

// What happens to an existing session file: the runs are added (their labels must be new there), or the file
// is replaced as a whole, atomically (the old one stays if anything fails).
enum class SessionWrite { kAppend, kReplace };

// The labels the baseline and patched runs of a patch take in `sessionPath`: "baseline" and "patched", or the
// first free "-N" pair when the session holds those already (kAppend). InputError for an unreadable session.
std::pair<std::string, std::string> freeRunLabels(const std::string& sessionPath, SessionWrite mode);

// Writes the baseline and patched runs and the comparison record into `sessionPath`: a new (or replaced) file
// atomically, complete or absent.
void saveComparisonSession(const std::string& sessionPath, const SessionRun& baseline,
                           const SessionRun& patched, const nlohmann::json& record,
                           SessionWrite mode = SessionWrite::kAppend);

// A patch measured and kept: patchModelFile, measurePatched, the comparison record stored with both runs in
// `sessionPath`. What `patch --session`, `demo` and the studio's Apply do.
struct PatchComparison {
  PatchOutcome patch;
  MeasuredPatch measured;
  nlohmann::json comparison;  // comparisonJson of the stored runs
};
PatchComparison patchAndCompare(const std::string& modelPath, const std::string& outputPath,
                                const StepSpec& spec, const SwapSelection& selection,
                                const std::string& sessionPath, int timingRounds,
                                SessionWrite mode = SessionWrite::kAppend, const ProgressFn& progress = {});

}  // namespace lowmem
