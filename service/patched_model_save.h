#pragma once
// Saving a rewritten model: the step of `lowmem patch` that needs the module itself (LibTorch), kept out of
// swap_run.h so the GUI can include the use cases without LibTorch.

#include <torch/script.h>

#include <string>
#include <vector>

#include "service/swap_run.h"

namespace lowmem {

// The second half of patchModelFile: saves `patched` (already rewritten; `folded` names the parameters whose
// values changed) beside `outputPath`, reloads it, verifies it against a fresh copy of `modelPath` and
// renames it into place only when the forward check passes; Error(kFailure) and nothing written otherwise.
// Fills the verification fields of `out`.
void savePatchedModel(const std::string& modelPath, torch::jit::Module& patched,
                      const std::string& outputPath, const StepSpec& spec,
                      const std::vector<std::string>& folded, PatchOutcome& out,
                      const ProgressFn& progress = {});

}  // namespace lowmem
