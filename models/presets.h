#pragma once
// The named models `lowmem models list/build` offers: each preset is a family, a configuration and a builder.

#include <torch/script.h>

#include <functional>
#include <string>
#include <vector>

#include "models/configs.h"

namespace lowmem::models {

struct ModelPreset {
  std::string name;         // "vit-tiny"
  std::string family;       // "vit", "llama", "bert"
  std::string description;  // one line for `models list`
  std::function<torch::jit::Module(const BuildOptions&)> build;
};

const std::vector<ModelPreset>& modelPresets();

// Throws InputError naming the preset and listing the known ones.
const ModelPreset& findPreset(const std::string& name);

// The preset the demo and the README use.
inline constexpr const char* kDemoPreset = "vit-s16";

// Builds `preset` and saves it to `path` atomically (temporary file, reload check, rename).
void buildAndSave(const ModelPreset& preset, const BuildOptions& options, const std::string& path);

// Parses "float32", "bfloat16", "float16", "float64" (and the torch.* spellings); throws InputError.
c10::ScalarType parseFloatDtype(const std::string& text, const std::string& flag);

}  // namespace lowmem::models
