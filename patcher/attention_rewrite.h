#pragma once
// Rewrites each explicit attention in a module's own code (free functions it calls inlined first) as one
// lowmem::attention call; the chain's nodes, a dropout module's call included, are removed, the dropout's
// probability (while training) passed to the op as dropout_p.

#include <torch/script.h>

namespace lowmem {

// How many chains became lowmem::attention.
int rewriteAttentionChains(const torch::jit::Module& holder, std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace lowmem
