#pragma once
// Whether an explicit attention may become lowmem::attention: the chain's form (an additive or boolean mask,
// a scalar scale), a dropout probability the op can be given, all in one module's code. A mask computed from
// a trainable parameter (T5's position bias) is noted: the op gives it its gradient.

#include <torch/script.h>

#include <set>
#include <string>

#include "core/site_plan.h"
#include "patcher/site_finder.h"

namespace lowmem {

void planAttention(const FoundSite& found, const torch::jit::Value* self, const std::string& rootType,
                   const std::set<std::string>& trainable, SitePlan& plan);

}  // namespace lowmem
