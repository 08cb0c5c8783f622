#pragma once
// Pieces every family builder needs: the preset's LoRA rank override, the final dtype cast, the input hint.

#include <torch/script.h>

#include <string>

#include "models/configs.h"

namespace lowmem::models::detail {

LoraConfig effectiveLora(LoraConfig lora, const BuildOptions& options);

// Casts floating parameters and buffers to options.dtype and records `hint` on the root.
torch::jit::Module finish(torch::jit::Module root, const BuildOptions& options, const std::string& hint);

// The body of a multi-head self-attention forward over x [B, N, C] with projections self.q, self.k, self.v:
// heads, scaled scores, softmax (then dropout with probability `attnDropout` when it is not empty), leaving
// `o` [B, N, C] for the caller's output projection. Shared by the ViT and BERT families.
std::string multiHeadAttentionLines(int64_t heads, int64_t hidden, const std::string& attnDropout);

// forward() of a container that runs children layer_0 ... layer_{n-1} in order (an unrolled nn.Sequential).
std::string sequentialSource(int64_t layers);

// "float32", "bfloat16", ... as used in input specs.
std::string dtypeName(c10::ScalarType dtype);

}  // namespace lowmem::models::detail
