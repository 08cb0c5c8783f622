// The bundled models: exact site and parameter counts derived from their configs, and a real forward and
// backward after a save/load round trip with frozen base weights and trainable LoRA weights.

#include <gtest/gtest.h>
#include <torch/script.h>

#include <filesystem>

#include "core/error.h"
#include "core/trainable.h"
#include "models/families.h"
#include "models/presets.h"
#include "patcher/site_finder.h"
#include "profiler/model_inspector.h"

namespace lowmem::models {
namespace {

namespace fs = std::filesystem;

std::map<SiteKind, int> countSites(const torch::jit::Module& m) {
  std::map<SiteKind, int> counts;
  for (const auto& s : findSwapSites(m))
    ++counts[s.kind];
  return counts;
}

int64_t trainableUnderLora(const torch::jit::Module& m) {
  return inspectModel(m, "m.pt", TrainableSelection::parse("lora")).root().total.trainableParams;
}

torch::jit::Module roundTrip(const torch::jit::Module& m, const std::string& name) {
  const auto path = fs::temp_directory_path() / ("lowmem-models-test-" + name + ".pt");
  m.save(path.string());
  auto loaded = torch::jit::load(path.string());
  fs::remove(path);
  return loaded;
}

// Runs forward and backward; checks that exactly the LoRA tensors train and receive gradients.
void checkLoraTraining(torch::jit::Module m, const at::Tensor& input) {
  m.train();
  auto out = m.forward({input}).toTensor();
  ASSERT_TRUE(out.requires_grad());
  (out.to(at::kFloat).pow(2).mean()).backward();
  int lora = 0;
  for (const auto& p : m.named_parameters()) {
    const bool isLora = p.name.find("lora_") != std::string::npos;
    EXPECT_EQ(p.value.requires_grad(), isLora) << p.name;
    if (!isLora) {
      EXPECT_FALSE(p.value.grad().defined()) << p.name << " is frozen but got a gradient";
      continue;
    }
    ++lora;
    ASSERT_TRUE(p.value.grad().defined()) << p.name;
    EXPECT_TRUE(at::isfinite(p.value.grad()).all().item<bool>()) << p.name;
    // B starts at zero, so A's first gradient is zero too; B's is not.
    if (p.name.find("lora_B") != std::string::npos) {
      EXPECT_GT(p.value.grad().abs().sum().item<double>(), 0.0) << p.name;
    }
  }
  EXPECT_GT(lora, 0);
}

}  // namespace

TEST(VitModel, SitesAndParametersFollowTheConfig) {
  const auto c = vitTiny();
  auto m = buildVit(c, {});
  auto sites = countSites(m);
  EXPECT_EQ(sites[SiteKind::kGelu], c.layers);
  EXPECT_EQ(sites[SiteKind::kLayerNorm], 2 * c.layers + 1);
  EXPECT_EQ(sites[SiteKind::kSilu] + sites[SiteKind::kRmsNorm] + sites[SiteKind::kGeluTanh], 0);

  const int64_t D = c.hidden, M = c.mlpDim, r = c.lora.rank, P = c.patchSize;
  const int64_t perBlockBase = 4 * D + 4 * (D * D + D) + (D * M + M) + (M * D + D);
  const int64_t perBlockLora = 4 * r * (D + D) + r * (D + M) + r * (M + D);
  const int64_t total = (D * c.channels * P * P + D) + D + c.tokens() * D +
                        c.layers * (perBlockBase + perBlockLora) + 2 * D + (D * c.numClasses + c.numClasses);
  auto summary = inspectModel(m, "vit.pt", TrainableSelection::parse("saved"));
  // root, patch_embed, encoder, final norm, head; per block: itself, norm1, attn + q/k/v/proj, norm2, mlp +
  // fc1/fc2.
  EXPECT_EQ(summary.modules.size(), static_cast<size_t>(5 + 11 * c.layers));
  EXPECT_EQ(summary.root().total.params, total);
  EXPECT_EQ(summary.root().total.trainableParams, c.layers * perBlockLora);
  EXPECT_EQ(trainableUnderLora(m), c.layers * perBlockLora);
  EXPECT_EQ(summary.root().total.bytes, total * 4);
}

TEST(VitModel, SiteModulePathsNameTheInstances) {
  auto sites = findSwapSites(buildVit(vitTiny(), {}));
  ASSERT_EQ(sites.size(), 9u);  // per block: norm1, attention, norm2, GELU; then the final norm
  EXPECT_EQ(sites[0].modulePath, "encoder.layer_0.norm1");
  EXPECT_EQ(sites[0].moduleType, "LayerNorm");
  EXPECT_EQ(sites[1].kind, SiteKind::kAttention);
  EXPECT_EQ(sites[1].modulePath, "encoder.layer_0.attn");
  EXPECT_EQ(sites[1].form, "matmul/mul/softmax/matmul");
  EXPECT_EQ(sites[3].modulePath, "encoder.layer_0.mlp");
  EXPECT_EQ(sites[3].moduleType, "MLP");
  EXPECT_EQ(sites[3].form, "approximate=none");
  EXPECT_EQ(sites[8].modulePath, "norm");
}

TEST(VitModel, InstancesShareTheirTypeLikeScriptedModels) {
  auto m = buildVit(vitTiny(), {});
  auto l0 = m.attr("encoder").toModule().attr("layer_0").toModule();
  auto l1 = m.attr("encoder").toModule().attr("layer_1").toModule();
  EXPECT_EQ(l0.type(), l1.type());
  EXPECT_EQ(l0.attr("norm1").toModule().type(), m.attr("norm").toModule().type());
  // Same type, different weights.
  EXPECT_FALSE(at::equal(l0.attr("mlp").toModule().attr("fc1").toModule().attr("weight").toTensor(),
                         l1.attr("mlp").toModule().attr("fc1").toModule().attr("weight").toTensor()));
}

TEST(VitModel, TrainsLoraAfterReload) {
  const auto c = vitTiny();
  auto m = roundTrip(buildVit(c, {}), "vit");
  EXPECT_EQ(m.attr(kInputHintAttribute).toStringRef(), "x:float32[2,3,32,32]");
  checkLoraTraining(m, at::randn({2, c.channels, c.imageSize, c.imageSize}));
}

TEST(VitModel, Bfloat16BuildCastsEveryParameter) {
  BuildOptions o;
  o.dtype = at::kBFloat16;
  auto m = roundTrip(buildVit(vitTiny(), o), "vit-bf16");
  for (const auto& p : m.named_parameters())
    EXPECT_EQ(p.value.scalar_type(), at::kBFloat16) << p.name;
  for (const auto& p : m.named_parameters()) {
    EXPECT_EQ(p.value.requires_grad(), p.name.find("lora_") != std::string::npos) << p.name;
  }
  EXPECT_EQ(m.attr(kInputHintAttribute).toStringRef(), "x:bfloat16[2,3,32,32]");
}

TEST(VitModel, RankZeroMeansFullFineTuning) {
  BuildOptions o;
  o.loraRank = 0;
  auto m = buildVit(vitTiny(), o);
  for (const auto& p : m.named_parameters()) {
    EXPECT_TRUE(p.value.requires_grad()) << p.name;
    EXPECT_EQ(p.name.find("lora_"), std::string::npos) << p.name;
  }
}

TEST(LlamaModel, SitesAndParametersFollowTheConfig) {
  const auto c = llamaTiny();
  auto m = buildLlama(c, {});
  auto sites = countSites(m);
  EXPECT_EQ(sites[SiteKind::kSilu], c.layers);
  EXPECT_EQ(sites[SiteKind::kRmsNorm], 2 * c.layers + 1);
  EXPECT_EQ(sites[SiteKind::kGelu] + sites[SiteKind::kLayerNorm], 0);

  const int64_t D = c.hidden, I = c.intermediate, r = c.lora.rank;
  const int64_t perLayerBase = 2 * D + 4 * D * D + 3 * D * I;
  const int64_t perLayerLora = 4 * r * (D + D) + 3 * r * (D + I);
  auto summary = inspectModel(m, "llama.pt", TrainableSelection::parse("saved"));
  // root, layers, norm, lm_head; per layer: itself, 2 norms, self_attn + 4 projections, mlp + 3 projections.
  EXPECT_EQ(summary.modules.size(), static_cast<size_t>(4 + 12 * c.layers));
  EXPECT_EQ(summary.root().total.params,
            c.vocab * D + c.layers * (perLayerBase + perLayerLora) + D + D * c.vocab);
  EXPECT_EQ(trainableUnderLora(m), c.layers * perLayerLora);

  for (const auto& s : findSwapSites(m)) {
    if (s.kind == SiteKind::kRmsNorm) {
      EXPECT_EQ(s.form, "pow/mean/add/rsqrt/mul +cast in +cast out +weight");
    }
  }
}

TEST(LlamaModel, TrainsLoraAfterReload) {
  const auto c = llamaTiny();
  auto m = roundTrip(buildLlama(c, {}), "llama");
  checkLoraTraining(m, at::randint(0, c.vocab, {2, 16}, at::kLong));
}

TEST(LlamaModel, IsCausal) {
  const auto c = llamaTiny();
  auto m = buildLlama(c, {});
  m.eval();
  auto ids = at::randint(0, c.vocab, {1, 12}, at::kLong);
  auto changed = ids.clone();
  changed.index_put_({0, 11}, (ids.index({0, 11}).item<int64_t>() + 1) % c.vocab);
  torch::NoGradGuard noGrad;
  auto a = m.forward({ids}).toTensor();
  auto b = m.forward({changed}).toTensor();
  // Changing the last token leaves every earlier position's logits untouched.
  EXPECT_TRUE(at::allclose(a.slice(1, 0, 11), b.slice(1, 0, 11)));
  EXPECT_FALSE(at::allclose(a.slice(1, 11, 12), b.slice(1, 11, 12)));
}

TEST(BertModel, SitesAndParametersFollowTheConfig) {
  const auto c = bertTiny();
  auto m = buildBert(c, {});
  auto sites = countSites(m);
  EXPECT_EQ(sites[SiteKind::kGelu], c.layers);
  EXPECT_EQ(sites[SiteKind::kLayerNorm], 2 * c.layers + 1);
  const int64_t D = c.hidden, M = c.mlpDim, r = c.lora.rank;
  EXPECT_EQ(trainableUnderLora(m), c.layers * (4 * r * (D + D) + r * (D + M) + r * (M + D)));
  // root, embeddings + its norm, encoder, pooler, classifier; per layer: itself, attn + 4 linears, 2 norms,
  // fc1, fc2.
  EXPECT_EQ(inspectModel(m, "bert.pt", TrainableSelection::parse("saved")).modules.size(),
            static_cast<size_t>(6 + 10 * c.layers));
}

TEST(BertModel, TrainsLoraAfterReloadWithDropoutActive) {
  const auto c = bertTiny();
  auto m = roundTrip(buildBert(c, {}), "bert");
  // Every module carries its training flag through the file: the reloaded model runs as loaded, before any
  // train() or eval(), with dropout live (built in training mode).
  for (const auto& sub : m.modules())
    EXPECT_TRUE(sub.attr("training").isBool()) << sub.type()->name()->qualifiedName();
  {
    torch::NoGradGuard noGrad;
    auto ids = at::randint(0, c.vocab, {2, 16}, at::kLong);
    EXPECT_FALSE(at::equal(m.forward({ids}).toTensor(), m.forward({ids}).toTensor()));
  }
  checkLoraTraining(m, at::randint(0, c.vocab, {2, 16}, at::kLong));
  // Dropout is live in training mode and off in eval mode.
  auto ids = at::randint(0, c.vocab, {2, 16}, at::kLong);
  torch::NoGradGuard noGrad;
  m.train();
  EXPECT_FALSE(at::equal(m.forward({ids}).toTensor(), m.forward({ids}).toTensor()));
  m.eval();
  EXPECT_TRUE(at::equal(m.forward({ids}).toTensor(), m.forward({ids}).toTensor()));
}

TEST(Presets, EveryPresetIsListedAndUnknownNamesAreRefused) {
  std::vector<std::string> names;
  for (const auto& p : modelPresets())
    names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"vit-s16", "vit-tiny", "vit-b16", "vit-fmnist", "llama-tiny",
                                             "llama-small", "bert-tiny"}));
  EXPECT_THROW(findPreset("vit-huge"), InputError);
  EXPECT_EQ(&findPreset(kDemoPreset), &modelPresets()[0]);
}

// ViT-S/16 (DeiT-S, the demo's) and ViT-B/16 (the paper's) at 224 px: 197 tokens, 12 layers, LoRA r4 on
// every attention and MLP linear.
TEST(Presets, VitS16AndB16HaveTheirPublishedShapes) {
  struct Shape {
    VitConfig config;
    int64_t hidden, heads, mlpDim;
  };
  for (const auto& [c, hidden, heads, mlpDim] :
       {Shape{vitS16(), 384, 6, 1536}, Shape{vitB16(), 768, 12, 3072}}) {
    EXPECT_EQ(c.hidden, hidden);
    EXPECT_EQ(c.heads, heads);
    EXPECT_EQ(c.mlpDim, mlpDim);
    EXPECT_EQ(c.layers, 12);
    EXPECT_EQ(c.tokens(), 197);
    EXPECT_EQ(c.lora.rank, 4);
    EXPECT_EQ(c.lora.targets, (std::vector<std::string>{"q", "k", "v", "proj", "fc1", "fc2"}));
  }
}

}  // namespace lowmem::models
