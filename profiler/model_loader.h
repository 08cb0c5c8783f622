#pragma once
// Loads a TorchScript model for any front end, turning every way a file can be wrong into one clear line.

#include <torch/script.h>

#include <string>

namespace lowmem {

// Throws InputError("PATH: problem") for a missing, empty, non-zip, truncated, non-TorchScript file, a file
// needing ops that are not loaded, or a module without forward. Never lets a c10::Error escape.
torch::jit::Module loadModel(const std::string& path);

// Saves `module` to `path`: serialised in memory first (LibTorch's file writer aborts the process when the
// disk fills), then written with checked writes; InputError naming `path` on failure.
void saveModel(const torch::jit::Module& module, const std::string& path);

// How many times this process has loaded `path` (as given): loading a large model costs seconds, so the use
// cases' tests pin how often each file is read.
int modelLoads(const std::string& path);

// The one-line explanation for a LibTorch load error's message (exposed for tests).
std::string explainLoadError(const std::string& message);

}  // namespace lowmem
