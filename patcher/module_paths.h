#pragma once
// Dotted paths into a module instance ("encoder.layer_0.attn.q.weight"): the patcher's plans name parameters
// and submodules this way, the rewriter and the verifier resolve them.

#include <torch/script.h>

#include <optional>
#include <string>
#include <utility>

#include "core/module_path.h"

namespace lowmem {

// The attribute at `path` (a submodule walk, then the attribute); nullopt when any step is missing.
std::optional<c10::IValue> attributeAt(const torch::jit::Module& root, const std::string& path);

// The submodule at `path` ("" is the root); throws std::out_of_range when it is not a module.
torch::jit::Module submoduleAt(const torch::jit::Module& root, const std::string& path);

}  // namespace lowmem
