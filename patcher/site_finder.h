#pragma once
// Finds every GELU, SiLU, LayerNorm and RMSNorm in a model's (inlined) forward graph.

#include <torch/script.h>

#include <vector>

#include "core/swap_site.h"

namespace lowmem {

std::vector<SwapSite> findSwapSites(const torch::jit::Module& module);

}  // namespace lowmem
