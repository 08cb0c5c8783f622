#pragma once
// Builders of the bundled model families. Each returns a TorchScript module whose root carries the attribute
// `lowmem_input_hint`: an example input spec ("x:float32[2,3,224,224]") that front ends use as a default.

#include <torch/script.h>

#include "core/model_attributes.h"
#include "models/configs.h"

namespace lowmem::models {

// Pre-LN vision transformer (torchvision's ViT layout with separate q, k, v).
torch::jit::Module buildVit(VitConfig config, const BuildOptions& options);
// Pre-norm decoder: HF-style RMSNorm, rotary causal attention, SwiGLU MLP.
torch::jit::Module buildLlama(LlamaConfig config, const BuildOptions& options);
// Post-LN encoder with dropout and a classification head on the first token.
torch::jit::Module buildBert(BertConfig config, const BuildOptions& options);

}  // namespace lowmem::models
