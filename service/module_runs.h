#pragma once
// The service steps that take a loaded module (LibTorch), kept out of the use-case headers so the GUI
// includes those without LibTorch: use cases that load a model once for several steps compose them, and tests
// hand in modules they built.

#include <torch/script.h>

#include <string>
#include <vector>

#include "core/site_plan.h"
#include "core/verification.h"
#include "service/swap_run.h"

namespace lowmem {

// profileModel's step and analysis on a module loaded from `modelPath` and placed (placeModule) by the
// caller. The module trains a step: its parameters change.
SessionRun profileLoadedModel(torch::jit::Module& module, const std::string& modelPath, const StepSpec& spec,
                              const std::string& label, const ProgressFn& progress = {});

// Every swap site of the module planned for the spec's trainable selection and device (attention stays as it
// is for a step on the GPU until its CUDA kernel has been checked there).
std::vector<SitePlan> sitePlansFor(const torch::jit::Module& module, const StepSpec& spec);

// Bytes per element of the model's floating parameters (4 when it has none): the activations' width where
// the trace recorded no shapes.
int elementBytesOf(const torch::jit::Module& m);

// The original and the patched model as verification loaded them: fresh from their files, placed, run
// forward and backward only (no optimizer step), under the spec's executor mode. Timing both needs no more.
struct VerifiedModels {
  torch::jit::Module original;
  torch::jit::Module patched;
};

// The second half of patchModelFile: saves `patched` (already rewritten; `folded` names the parameters whose
// values changed) beside `outputPath`, reloads it, verifies it against a fresh copy of `modelPath` and
// renames it into place only when the forward check passes; Error(kFailure) and nothing written otherwise.
// Fills `verification` either way; `keep`, when given, receives the two verified modules.
void savePatchedModel(const std::string& modelPath, torch::jit::Module& patched,
                      const std::string& outputPath, const StepSpec& spec,
                      const std::vector<std::string>& folded, Verification& verification,
                      const ProgressFn& progress = {}, VerifiedModels* keep = nullptr);

}  // namespace lowmem
