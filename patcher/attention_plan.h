#pragma once
// Whether an explicit attention may become lowmem::attention: the chain's form (an additive or boolean mask,
// a scalar scale), a dropout probability the op can be given, all in one module's code. A mask computed from
// a trainable parameter (T5's position bias) is noted: the op gives it its gradient.

#include <torch/script.h>

#include <set>
#include <string>
#include <vector>

#include "core/site_plan.h"
#include "patcher/inlined_graph.h"
#include "patcher/site_finder.h"

namespace lowmem {

// The model and the module calls its analysis inlined, for code that returns the probabilities when an
// argument asks for them.
struct AttentionCallers {
  const torch::jit::Module& root;
  const std::vector<InlinedCall>& calls;
};

void planAttention(const FoundSite& found, const torch::jit::Value* self, const std::string& rootType,
                   const std::set<std::string>& trainable, const AttentionCallers& callers, SitePlan& plan);

}  // namespace lowmem
