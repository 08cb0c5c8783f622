#include "models/layers.h"

#include <algorithm>
#include <cmath>

namespace lowmem::models {

bool LoraConfig::adapts(const std::string& leaf) const {
  return enabled() && std::find(targets.begin(), targets.end(), leaf) != targets.end();
}

torch::jit::Module LayerBuilder::linear(const LinearSpec& s) {
  const double std = 1.0 / std::sqrt(static_cast<double>(s.in));
  if (!lora_.adapts(s.leaf)) return plainLinear(s.in, s.out, s.bias);

  const std::string base =
      s.bias ? "torch.linear(x, self.weight, self.bias)" : "torch.linear(x, self.weight)";
  const std::string source = "def forward(self, x):\n    return " + base +
                             " + torch.linear(torch.linear(x, self.lora_A), self.lora_B) * " +
                             pyFloat(lora_.scaling()) + "\n";
  auto b = f_.module(s.bias ? "LoRALinear" : "LoRALinearNoBias", source);
  b.parameter("weight", init_.normal({s.out, s.in}, std), false);
  if (s.bias) b.parameter("bias", init_.normal({s.out}, 0.02), false);
  // PEFT's convention: A random, B zero, so the adapted model starts equal to the base model.
  b.parameter("lora_A", init_.normal({lora_.rank, s.in}, std), true);
  b.parameter("lora_B", init_.zeros({s.out, lora_.rank}), true);
  return b.build();
}

torch::jit::Module LayerBuilder::plainLinear(int64_t in, int64_t out, bool bias) {
  const double std = 1.0 / std::sqrt(static_cast<double>(in));
  const std::string source =
      bias ? "def forward(self, x):\n    return torch.linear(x, self.weight, self.bias)\n"
           : "def forward(self, x):\n    return torch.linear(x, self.weight)\n";
  auto b = f_.module(bias ? "Linear" : "LinearNoBias", source);
  b.parameter("weight", init_.normal({out, in}, std), baseTrains());
  if (bias) b.parameter("bias", init_.normal({out}, 0.02), baseTrains());
  return b.build();
}

torch::jit::Module LayerBuilder::layerNorm(int64_t dim, double eps) {
  const std::string source = "def forward(self, x):\n    return torch.layer_norm(x, [" + std::to_string(dim) +
                             "], self.weight, self.bias, " + pyFloat(eps) + ")\n";
  auto b = f_.module("LayerNorm", source);
  b.parameter("weight", init_.around({dim}, 1.0, 0.1), baseTrains());
  b.parameter("bias", init_.around({dim}, 0.0, 0.1), baseTrains());
  return b.build();
}

torch::jit::Module LayerBuilder::rmsNorm(int64_t dim, double eps) {
  // Hugging Face's LlamaRMSNorm, statement for statement, casts included. `torch.float32` does not resolve in
  // C++-compiled source; 6 is its ScalarType code, and the graph is the same prim::Constant either way.
  const std::string source =
      "def forward(self, hidden_states):\n"
      "    input_dtype = hidden_states.dtype\n"
      "    hidden_states = hidden_states.to(6)\n"
      "    variance = hidden_states.pow(2).mean(-1, keepdim=True)\n"
      "    hidden_states = hidden_states * torch.rsqrt(variance + " +
      pyFloat(eps) +
      ")\n"
      "    return self.weight * hidden_states.to(input_dtype)\n";
  auto b = f_.module("RMSNorm", source);
  b.parameter("weight", init_.around({dim}, 1.0, 0.1), baseTrains());
  return b.build();
}

}  // namespace lowmem::models
