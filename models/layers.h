#pragma once
// Layers shared by the bundled models, written the way scripted PyTorch/PEFT/HF code looks in a graph:
// aten::linear for projections, LoRA as a frozen linear plus linear(linear(x, A), B) * scaling,
// aten::layer_norm for LayerNorm and the HF pow/mean/add/rsqrt/mul chain (with casts) for RMSNorm.

#include <torch/script.h>

#include <string>
#include <vector>

#include "models/init.h"
#include "models/module_factory.h"

namespace lowmem::models {

struct LoraConfig {
  int rank = 0;                      // 0: no adapters, every parameter trains
  double alpha = 0;                  // scaling = alpha / rank; 0 means alpha = rank (scaling 1)
  std::vector<std::string> targets;  // leaf names of the linears that get adapters ("q", "fc1", ...)

  bool enabled() const { return rank > 0; }
  bool adapts(const std::string& leaf) const;
  double scaling() const { return alpha > 0 ? alpha / rank : 1.0; }
};

struct LinearSpec {
  std::string leaf;  // attribute name in the parent, decides whether LoRA applies
  int64_t in = 0;
  int64_t out = 0;
  bool bias = true;
};

class LayerBuilder {
 public:
  LayerBuilder(ModuleFactory& factory, Init& init, LoraConfig lora)
      : f_(factory), init_(init), lora_(std::move(lora)) {}

  // A base linear trains only when the model has no LoRA; with LoRA the base is frozen and A, B train.
  torch::jit::Module linear(const LinearSpec& spec);
  // A linear that never gets an adapter (heads, poolers); trains only without LoRA.
  torch::jit::Module plainLinear(int64_t in, int64_t out, bool bias);
  torch::jit::Module layerNorm(int64_t dim, double eps);
  torch::jit::Module rmsNorm(int64_t dim, double eps);

  bool baseTrains() const { return !lora_.enabled(); }
  ModuleFactory& factory() { return f_; }
  Init& init() { return init_; }

 private:
  ModuleFactory& f_;
  Init& init_;
  LoraConfig lora_;
};

}  // namespace lowmem::models
