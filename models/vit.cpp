#include <cmath>
#include <string>

#include "models/families.h"
#include "models/family_common.h"
#include "models/layers.h"

namespace lowmem::models {
namespace {

std::string attentionSource(const VitConfig& c) {
  return "def forward(self, x):\n" + detail::multiHeadAttentionLines(c.heads, c.hidden, "") +
         "    return self.proj.forward(o)\n";
}

const char* kMlpSource =
    "def forward(self, x):\n"
    "    return self.fc2.forward(torch.gelu(self.fc1.forward(x)))\n";

const char* kBlockSource =
    "def forward(self, x):\n"
    "    x = x + self.attn.forward(self.norm1.forward(x))\n"
    "    return x + self.mlp.forward(self.norm2.forward(x))\n";

const char* kVitSource =
    "def forward(self, x):\n"
    "    x = self.patch_embed.forward(x)\n"
    "    cls = self.cls_token.expand(x.size(0), -1, -1)\n"
    "    x = torch.cat([cls, x], 1) + self.pos_embed\n"
    "    x = self.encoder.forward(x)\n"
    "    x = self.norm.forward(x)\n"
    "    return self.head.forward(x[:, 0])\n";

}  // namespace

torch::jit::Module buildVit(VitConfig c, const BuildOptions& options) {
  c.lora = detail::effectiveLora(c.lora, options);
  ModuleFactory f("__torch__.lowmem.vit");
  Init init(options.seed);
  LayerBuilder L(f, init, c.lora);
  const int64_t D = c.hidden;

  auto patch = f.module("PatchEmbed",
                        "def forward(self, x):\n"
                        "    x = torch.conv2d(x, self.weight, self.bias, [" +
                            std::to_string(c.patchSize) + ", " + std::to_string(c.patchSize) +
                            "])\n"
                            "    return x.flatten(2).transpose(1, 2)\n");
  patch.parameter("weight",
                  init.normal({D, c.channels, c.patchSize, c.patchSize},
                              1.0 / std::sqrt(static_cast<double>(c.channels * c.patchSize * c.patchSize))),
                  L.baseTrains());
  patch.parameter("bias", init.normal({D}, 0.02), L.baseTrains());

  auto encoder = f.module("Encoder", detail::sequentialSource(c.layers));
  for (int64_t i = 0; i < c.layers; ++i) {
    auto attn = f.module("Attention", attentionSource(c));
    for (const char* leaf : {"q", "k", "v", "proj"})
      attn.child(leaf, L.linear({leaf, D, D, true}));
    auto mlp = f.module("MLP", kMlpSource);
    mlp.child("fc1", L.linear({"fc1", D, c.mlpDim, true}));
    mlp.child("fc2", L.linear({"fc2", c.mlpDim, D, true}));
    auto block = f.module("EncoderBlock", kBlockSource);
    block.child("norm1", L.layerNorm(D, c.eps));
    block.child("attn", attn.build());
    block.child("norm2", L.layerNorm(D, c.eps));
    block.child("mlp", mlp.build());
    encoder.child("layer_" + std::to_string(i), block.build());
  }

  auto root = f.module("VisionTransformer", kVitSource);
  root.child("patch_embed", patch.build());
  root.parameter("cls_token", init.normal({1, 1, D}, 0.02), L.baseTrains());
  root.parameter("pos_embed", init.normal({1, c.tokens(), D}, 0.02), L.baseTrains());
  root.child("encoder", encoder.build());
  root.child("norm", L.layerNorm(D, c.eps));
  root.child("head", L.plainLinear(D, c.numClasses, true));

  const std::string hint = "x:" + detail::dtypeName(options.dtype) + "[" + std::to_string(options.batch) +
                           "," + std::to_string(c.channels) + "," + std::to_string(c.imageSize) + "," +
                           std::to_string(c.imageSize) + "]";
  return detail::finish(root.build(), options, hint);
}

}  // namespace lowmem::models
