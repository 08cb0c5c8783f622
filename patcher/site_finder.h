#pragma once
// Finds every GELU, SiLU, LayerNorm, RMSNorm and explicit attention in a model's (inlined) forward graph.

#include <torch/script.h>

#include <optional>
#include <string>
#include <vector>

#include "core/swap_site.h"

namespace lowmem {

std::vector<SwapSite> findSwapSites(const torch::jit::Module& module);

// A site with its anchor node in a graph: the op itself, rsqrt for an HF RMSNorm chain, softmax for
// attention.
struct FoundSite {
  SwapSite site;
  torch::jit::Node* anchor = nullptr;
};
std::vector<FoundSite> findSwapSitesIn(torch::jit::Graph& graph, const std::string& rootType);
std::string rootTypeName(const torch::jit::Module& module);

// An HF RMSNorm chain: its input (before any cast in), its output (after the cast out and weight), the
// weight read (nullptr when none) and the value added as eps (a constant, or a module attribute such as
// LlamaRMSNorm's `variance_epsilon`, read per instance by the planner).
struct RmsChain {
  std::string form;
  const torch::jit::Value* input = nullptr;
  const torch::jit::Value* output = nullptr;
  const torch::jit::Value* weight = nullptr;
  const torch::jit::Value* eps = nullptr;
};
std::optional<RmsChain> matchRmsChain(const torch::jit::Node* rsqrt);

}  // namespace lowmem
