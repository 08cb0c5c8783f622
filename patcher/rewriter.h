#pragma once
// Applies chosen site plans to a freshly loaded module: activations become ReGELU2/ReSiLU2 in their module
// type's code, norm modules are replaced at their call sites by MS-LN/MS-RMSNorm and their affine folded into
// the consumers (float64, cast back; a LoRA A also gets a constant bias A*beta) or re-applied on residual
// adds (post-LN). Types are shared by instances: when `plans` patch only some instances of a type's code, the
// patched (or the other) instances get types of their own first. Records what it did in the module's
// `lowmem_rewrites` attribute.

#include <torch/script.h>

#include <string>
#include <vector>

#include "core/applied_rewrite.h"
#include "core/site_plan.h"

namespace lowmem {

struct RewriteResult {
  std::vector<AppliedRewrite> rewrites;       // in the order recorded
  std::vector<std::string> foldedParameters;  // parameters whose values changed (reparameterised)
  std::vector<std::string> frozenParameters;  // norm affines: folded away, or re-applied as constants
};

// Throws InputError when a site was already rewritten (the model records it) or cannot be rewritten.
RewriteResult applyRewrites(torch::jit::Module& module, const std::vector<SitePlan>& plans);

// What a patched model records it went through (its `lowmem_rewrites`); empty for an unpatched model.
// InputError naming the model for a record this version does not read.
std::vector<AppliedRewrite> recordedRewrites(const torch::jit::Module& m);

// The record of one plan's site.
AppliedRewrite appliedRewrite(const SitePlan& plan);

}  // namespace lowmem
