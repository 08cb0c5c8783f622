#include <string>

#include "models/families.h"
#include "models/family_common.h"
#include "models/layers.h"

namespace lowmem::models {
namespace {

std::string attentionSource(const BertConfig& c) {
  const auto p = pyFloat(c.dropout);
  return "def forward(self, x):\n" + detail::multiHeadAttentionLines(c.heads, c.hidden, p) +
         "    return torch.dropout(self.proj.forward(o), " + p + ", self.training)\n";
}

std::string layerSource(const BertConfig& c) {
  // Post-LN: each sub-block's output is added to its input, then normalised.
  return "def forward(self, x):\n"
         "    x = self.norm1.forward(x + self.attn.forward(x))\n"
         "    h = self.fc2.forward(torch.gelu(self.fc1.forward(x)))\n"
         "    return self.norm2.forward(x + torch.dropout(h, " +
         pyFloat(c.dropout) + ", self.training))\n";
}

std::string embeddingsSource(const BertConfig& c) {
  return "def forward(self, input_ids):\n"
         "    N = input_ids.size(1)\n"
         "    x = torch.embedding(self.word_embeddings, input_ids) + self.position_embeddings[:N]\n"
         "    return torch.dropout(self.norm.forward(x), " +
         pyFloat(c.dropout) + ", self.training)\n";
}

const char* kBertSource =
    "def forward(self, input_ids):\n"
    "    x = self.encoder.forward(self.embeddings.forward(input_ids))\n"
    "    pooled = torch.tanh(self.pooler.forward(x[:, 0]))\n"
    "    return self.classifier.forward(pooled)\n";

}  // namespace

torch::jit::Module buildBert(BertConfig c, const BuildOptions& options) {
  c.lora = detail::effectiveLora(c.lora, options);
  ModuleFactory f("__torch__.lowmem.bert");
  Init init(options.seed);
  LayerBuilder L(f, init, c.lora);
  const int64_t D = c.hidden;

  auto embeddings = f.module("Embeddings", embeddingsSource(c));
  embeddings.parameter("word_embeddings", init.normal({c.vocab, D}, 0.02), L.baseTrains());
  embeddings.parameter("position_embeddings", init.normal({c.maxSeq, D}, 0.02), L.baseTrains());
  embeddings.child("norm", L.layerNorm(D, c.eps));

  auto encoder = f.module("Encoder", detail::sequentialSource(c.layers));
  for (int64_t i = 0; i < c.layers; ++i) {
    auto attn = f.module("SelfAttention", attentionSource(c));
    for (const char* leaf : {"q", "k", "v", "proj"})
      attn.child(leaf, L.linear({leaf, D, D, true}));
    auto layer = f.module("EncoderLayer", layerSource(c));
    layer.child("attn", attn.build());
    layer.child("norm1", L.layerNorm(D, c.eps));
    layer.child("fc1", L.linear({"fc1", D, c.mlpDim, true}));
    layer.child("fc2", L.linear({"fc2", c.mlpDim, D, true}));
    layer.child("norm2", L.layerNorm(D, c.eps));
    encoder.child("layer_" + std::to_string(i), layer.build());
  }

  auto root = f.module("BertForSequenceClassification", kBertSource);
  root.child("embeddings", embeddings.build());
  root.child("encoder", encoder.build());
  root.child("pooler", L.plainLinear(D, D, true));
  root.child("classifier", L.plainLinear(D, c.numClasses, true));

  const std::string hint = "input_ids:int64[" + std::to_string(options.batch) + "," +
                           std::to_string(c.maxSeq) + "]:0.." + std::to_string(c.vocab);
  return detail::finish(root.build(), options, hint);
}

}  // namespace lowmem::models
