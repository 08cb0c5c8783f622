#include "models/presets.h"

#include <spdlog/spdlog.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "models/families.h"

namespace lowmem::models {
namespace {

std::string describe(const VitConfig& c) {
  return "ViT " + std::to_string(c.imageSize) + "px/" + std::to_string(c.patchSize) + ", hidden " +
         std::to_string(c.hidden) + ", " + std::to_string(c.layers) + " layers, " + std::to_string(c.heads) +
         " heads, MLP " + std::to_string(c.mlpDim) + ", LoRA r" + std::to_string(c.lora.rank) +
         " on q,k,v,proj,fc1,fc2";
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
      preset("vit-tiny", "vit", vitTiny(), buildVit),
      preset("vit-b16", "vit", vitB16(), buildVit),
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
      path, [&](const std::string& tmp) { module.save(tmp); },
      [&](const std::string& tmp) {
        // A file that does not load back is never put in place.
        auto reloaded = torch::jit::load(tmp);
        if (!reloaded.find_method("forward")) throw InputError(path, "saved model has no forward method");
      });
  spdlog::info("wrote {}", path);
}

c10::ScalarType parseFloatDtype(const std::string& text, const std::string& flag) {
  std::string t = text.rfind("torch.", 0) == 0 ? text.substr(6) : text;
  if (t == "float32" || t == "float" || t == "fp32") return c10::ScalarType::Float;
  if (t == "bfloat16" || t == "bf16") return c10::ScalarType::BFloat16;
  if (t == "float16" || t == "half" || t == "fp16") return c10::ScalarType::Half;
  if (t == "float64" || t == "double" || t == "fp64") return c10::ScalarType::Double;
  throw InputError(flag,
                   "'" + text + "' is not a floating dtype (expected float32, bfloat16, float16 or float64)");
}

}  // namespace lowmem::models
