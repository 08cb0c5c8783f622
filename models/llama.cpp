#include <cmath>
#include <limits>
#include <string>

#include "models/families.h"
#include "models/family_common.h"
#include "models/layers.h"

namespace lowmem::models {
namespace {

std::string attentionSource(const LlamaConfig& c) {
  const int64_t hd = c.hidden / c.heads;
  const auto h = std::to_string(c.heads);
  const auto hds = std::to_string(hd);
  const auto half = std::to_string(hd / 2);
  return "def forward(self, x):\n"
         "    B, N, C = x.shape\n"
         "    q = self.q_proj.forward(x).view(B, N, " +
         h + ", " + hds +
         ").transpose(1, 2)\n"
         "    k = self.k_proj.forward(x).view(B, N, " +
         h + ", " + hds +
         ").transpose(1, 2)\n"
         "    v = self.v_proj.forward(x).view(B, N, " +
         h + ", " + hds +
         ").transpose(1, 2)\n"
         "    cos = self.rope_cos[:N].to(q.dtype)\n"
         "    sin = self.rope_sin[:N].to(q.dtype)\n"
         "    q = q * cos + torch.cat([-q[..., " +
         half + ":], q[..., :" + half +
         "]], -1) * sin\n"
         "    k = k * cos + torch.cat([-k[..., " +
         half + ":], k[..., :" + half +
         "]], -1) * sin\n"
         "    scores = torch.matmul(q, k.transpose(2, 3)) * " +
         pyFloat(1.0 / std::sqrt(static_cast<double>(hd))) +
         " + self.causal_mask[:N, :N].to(q.dtype)\n"
         // 6 is torch.float32 (dtype names do not resolve in C++-compiled source).
         "    attn = torch.softmax(scores.to(6), -1).to(q.dtype)\n"
         "    o = torch.matmul(attn, v).transpose(1, 2).reshape(B, N, C)\n"
         "    return self.o_proj.forward(o)\n";
}

const char* kMlpSource =
    "def forward(self, x):\n"
    "    return self.down_proj.forward(torch.silu(self.gate_proj.forward(x)) * self.up_proj.forward(x))\n";

const char* kLayerSource =
    "def forward(self, x):\n"
    "    h = x + self.self_attn.forward(self.input_layernorm.forward(x))\n"
    "    return h + self.mlp.forward(self.post_attention_layernorm.forward(h))\n";

const char* kLlamaSource =
    "def forward(self, input_ids):\n"
    "    x = torch.embedding(self.embed_tokens, input_ids)\n"
    "    x = self.layers.forward(x)\n"
    "    return self.lm_head.forward(self.norm.forward(x))\n";

}  // namespace

torch::jit::Module buildLlama(LlamaConfig c, const BuildOptions& options) {
  c.lora = detail::effectiveLora(c.lora, options);
  ModuleFactory f("__torch__.lowmem.llama");
  Init init(options.seed);
  LayerBuilder L(f, init, c.lora);
  const int64_t D = c.hidden;
  const int64_t hd = D / c.heads;

  // Rotary tables (HF's rotate_half convention) and the additive causal mask, as buffers.
  auto inv = at::pow(c.ropeTheta, -at::arange(0, hd, 2, at::kDouble) / static_cast<double>(hd));
  auto freqs = at::outer(at::arange(c.maxSeq, at::kDouble), inv);
  auto emb = at::cat({freqs, freqs}, -1);
  auto cosTable = emb.cos().to(at::kFloat);
  auto sinTable = emb.sin().to(at::kFloat);
  auto mask = at::full({c.maxSeq, c.maxSeq}, -std::numeric_limits<float>::infinity(), at::kFloat).triu(1);

  auto layers = f.module("Layers", detail::sequentialSource(c.layers));
  for (int64_t i = 0; i < c.layers; ++i) {
    auto attn = f.module("Attention", attentionSource(c));
    for (const char* leaf : {"q_proj", "k_proj", "v_proj", "o_proj"})
      attn.child(leaf, L.linear({leaf, D, D, false}));
    attn.buffer("rope_cos", cosTable.clone());
    attn.buffer("rope_sin", sinTable.clone());
    attn.buffer("causal_mask", mask.clone());
    auto mlp = f.module("MLP", kMlpSource);
    mlp.child("gate_proj", L.linear({"gate_proj", D, c.intermediate, false}));
    mlp.child("up_proj", L.linear({"up_proj", D, c.intermediate, false}));
    mlp.child("down_proj", L.linear({"down_proj", c.intermediate, D, false}));
    auto layer = f.module("DecoderLayer", kLayerSource);
    layer.child("input_layernorm", L.rmsNorm(D, c.eps));
    layer.child("self_attn", attn.build());
    layer.child("post_attention_layernorm", L.rmsNorm(D, c.eps));
    layer.child("mlp", mlp.build());
    layers.child("layer_" + std::to_string(i), layer.build());
  }

  auto root = f.module("LlamaForCausalLM", kLlamaSource);
  root.parameter("embed_tokens", init.normal({c.vocab, D}, 0.02), L.baseTrains());
  root.child("layers", layers.build());
  root.child("norm", L.rmsNorm(D, c.eps));
  root.child("lm_head", L.plainLinear(D, c.vocab, false));

  const std::string hint = "input_ids:int64[" + std::to_string(options.batch) + "," +
                           std::to_string(std::min<int64_t>(c.maxSeq, 128)) + "]:0.." +
                           std::to_string(c.vocab);
  return detail::finish(root.build(), options, hint);
}

}  // namespace lowmem::models
