#include "models/family_common.h"

#include <cmath>

#include "models/families.h"
#include "models/module_factory.h"
#include "profiler/scalar_type.h"

namespace lowmem::models::detail {

LoraConfig effectiveLora(LoraConfig lora, const BuildOptions& options) {
  if (options.loraRank) lora.rank = *options.loraRank;
  return lora;
}

torch::jit::Module finish(torch::jit::Module root, const BuildOptions& options, const std::string& hint) {
  if (options.dtype != c10::ScalarType::Float) root.to(options.dtype);
  root.register_attribute(kInputHintAttribute, c10::StringType::get(), hint);
  return root;
}

std::string multiHeadAttentionLines(int64_t heads, int64_t hidden, const std::string& attnDropout) {
  const std::string split = ".reshape(B, N, " + std::to_string(heads) + ", " +
                            std::to_string(hidden / heads) + ").transpose(1, 2)\n";
  const double scale = 1.0 / std::sqrt(static_cast<double>(hidden / heads));
  std::string s = "    B, N, C = x.shape\n";
  for (const char* p : {"q", "k", "v"})
    s += std::string("    ") + p + " = self." + p + ".forward(x)" + split;
  s += "    attn = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * " + pyFloat(scale) + ", -1)\n";
  if (!attnDropout.empty()) s += "    attn = torch.dropout(attn, " + attnDropout + ", self.training)\n";
  return s + "    o = torch.matmul(attn, v).transpose(1, 2).reshape(B, N, C)\n";
}

std::string sequentialSource(int64_t layers) {
  std::string s = "def forward(self, x):\n";
  for (int64_t i = 0; i < layers; ++i)
    s += "    x = self.layer_" + std::to_string(i) + ".forward(x)\n";
  return s + "    return x\n";
}

std::string dtypeName(c10::ScalarType dtype) {
  const auto named = dtypeOf(dtype);
  return named ? nameOf(*named) : std::string(c10::toString(dtype));
}

}  // namespace lowmem::models::detail
