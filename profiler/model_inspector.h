#pragma once
// Reads a loaded model's module tree, parameters and forward signature into core's ModelSummary.

#include <torch/script.h>

#include <string>

#include "core/model_summary.h"
#include "core/trainable.h"

namespace lowmem {

// Fills everything but `sites` (the patcher's site finder adds those).
ModelSummary inspectModel(const torch::jit::Module& module, const std::string& file,
                          const TrainableSelection& trainable);

// The model's `lowmem_rewrites` list as stored (empty for an unpatched model): what `info` shows.
std::vector<std::string> recordedRewriteTexts(const torch::jit::Module& module);

// "forward(Tensor x) -> Tensor": the schema without the self argument.
std::string forwardSignature(const torch::jit::Module& module);

}  // namespace lowmem
