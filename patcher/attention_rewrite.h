#pragma once
// Rewrites each explicit attention in a module's own code (free functions it calls inlined first) as one
// lowmem::attention call; the chain's nodes, a dropout module's call included, are removed, the dropout's
// probability (while training) passed to the op as dropout_p.

#include <torch/script.h>

#include <vector>

#include "patcher/attention_chain.h"

namespace lowmem {

// The chains of a module's own code (its forward with the functions it calls inlined) the op can stand in
// for, their probabilities allowed to be returned on a condition (the rewrite keeps the chain for that case);
// dropout modules' calls are recognised on `holder`.
std::vector<AttentionChain> ownAttentionChains(const torch::jit::Module& holder, torch::jit::Graph& graph);

// How many chains became lowmem::attention.
int rewriteAttentionChains(const torch::jit::Module& holder, std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace lowmem
