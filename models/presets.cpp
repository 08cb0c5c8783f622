#include "models/presets.h"

#include <spdlog/spdlog.h>

#include <map>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/step_choices.h"
#include "models/families.h"
#include "profiler/model_loader.h"
#include "profiler/scalar_type.h"

namespace lowmem::models {
namespace {

std::string describe(const VitConfig& c) {
  return "ViT " + std::to_string(c.imageSize) + "px/" + std::to_string(c.patchSize) +
         (c.channels == 1 ? " grey" : "") + ", hidden " + std::to_string(c.hidden) + ", " +
         std::to_string(c.layers) + " layers, " + std::to_string(c.heads) + " heads, MLP " +
         std::to_string(c.mlpDim) + ", LoRA r" + std::to_string(c.lora.rank) + " on q,k,v,proj,fc1,fc2";
}

std::string describe(const LlamaConfig& c) {
  return "LLaMA-style decoder, vocab " + std::to_string(c.vocab) + ", hidden " + std::to_string(c.hidden) +
         ", " + std::to_string(c.layers) + " layers, " + std::to_string(c.heads) + " heads, SwiGLU " +
         std::to_string(c.intermediate) + ", RMSNorm (HF chain), LoRA r" + std::to_string(c.lora.rank) +
         " on all attention and MLP linears";
}

std::string describe(const BertConfig& c) {
  return "BERT-style post-LN encoder, vocab " + std::to_string(c.vocab) + ", hidden " +
         std::to_string(c.hidden) + ", " + std::to_string(c.layers) + " layers, " + std::to_string(c.heads) +
         " heads, MLP " + std::to_string(c.mlpDim) + ", dropout " + std::to_string(c.dropout).substr(0, 3) +
         ", LoRA r" + std::to_string(c.lora.rank);
}

template <typename Config, typename Builder>
ModelPreset preset(std::string name, std::string family, Config config, Builder builder) {
  return {std::move(name), std::move(family), describe(config),
          [config, builder](const BuildOptions& o) { return builder(config, o); }};
}

}  // namespace

const std::vector<ModelPreset>& modelPresets() {
  static const std::vector<ModelPreset> presets = {
      preset("vit-s16", "vit", vitS16(), buildVit),  // the demo's: first in the list
      preset("vit-tiny", "vit", vitTiny(), buildVit),
      preset("vit-b16", "vit", vitB16(), buildVit),
      preset("vit-fmnist", "vit", vitFashionMnist(), buildVit),
      preset("llama-tiny", "llama", llamaTiny(), buildLlama),
      preset("llama-small", "llama", llamaSmall(), buildLlama),
      preset("bert-tiny", "bert", bertTiny(), buildBert),
  };
  return presets;
}

const ModelPreset& findPreset(const std::string& name) {
  std::string known;
  for (const auto& p : modelPresets()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  throw InputError(name, "unknown model preset (known: " + known + ")");
}

void buildAndSave(const ModelPreset& preset, const BuildOptions& options, const std::string& path) {
  checkOutputPath(path);  // before the build, so a bad path fails at once and alone
  spdlog::info("building {} ({})", preset.name, preset.description);
  auto module = preset.build(options);
  writeFileAtomically(
      path, [&](const std::string& tmp) { saveModel(module, tmp); },
      [&](const std::string& tmp) {
        // A file that does not load back is never put in place.
        auto reloaded = torch::jit::load(tmp);
        if (!reloaded.find_method("forward")) throw InputError(path, "saved model has no forward method");
      });
  spdlog::info("wrote {}", path);
}

c10::ScalarType parseFloatDtype(const std::string& text, const std::string& flag) {
  // PyTorch's own spellings too: torch.float, half, bf16, ...
  static const std::map<std::string, std::string> aliases = {
      {"float", "float32"}, {"fp32", "float32"},   {"bf16", "bfloat16"}, {"half", "float16"},
      {"fp16", "float16"},  {"double", "float64"}, {"fp64", "float64"}};
  std::string t = text.rfind("torch.", 0) == 0 ? text.substr(6) : text;
  if (const auto it = aliases.find(t); it != aliases.end()) t = it->second;
  for (const auto& choice : choicesOf<Dtype>()) {
    if (t == choice.name && isFloating(choice.value)) return scalarTypeOf(choice.value);
  }
  throw InputError(flag, "'" + text + "' is not a floating dtype (expected " + floatingDtypeList() + ")");
}

}  // namespace lowmem::models
