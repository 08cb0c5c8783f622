#pragma once
// Decides, on an inlined copy of forward's graph, whether each swap site may take its memory-sharing op:
// activations by their form, norms by their consumers (every consumer, through views, must be a linear with a
// parameter weight that can take the folded affine) and whether one of them saves the same output for
// backward given the trainable selection. The user's module is never modified.

#include <torch/script.h>

#include <set>
#include <string>
#include <vector>

#include "core/site_plan.h"
#include "core/trainable.h"

namespace lowmem {

// Dotted names of the parameters `selection` trains (saved requires_grad flags where it says "saved").
std::set<std::string> trainableParameters(const torch::jit::Module& module,
                                          const TrainableSelection& selection);

std::vector<SitePlan> planSites(const torch::jit::Module& module, const std::set<std::string>& trainable);

}  // namespace lowmem
