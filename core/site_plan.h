#pragma once
// What the patcher found out about one swap site, as plain data: whether the memory-sharing op may replace it
// (and why not), which parameters receive the folded affine, whether a consumer shares the saved output, and
// the unit the rewrite is applied to (module types are shared by instances, so sites are patched per unit).

#include <cstdint>
#include <string>
#include <vector>

#include "core/swap_site.h"

namespace lowmem {

// A consumer of a norm's output that takes the folded affine: a linear with a parameter weight.
struct FoldTarget {
  std::string weight;  // dotted parameter path
  std::string bias;    // "" when the linear has none
  bool lora = false;   // a LoRA A: gamma goes into A, A*beta becomes a constant bias between A and B
  bool trainable = false;
};

struct SitePlan {
  SwapSite site;
  bool valid = false;
  std::string reason;  // why not valid; for valid norms, who shares the saved output (or that none does)
  // Norms: the affine and the shape of the normalisation.
  std::string gamma, beta;  // parameter paths, "" when absent
  int64_t normalizedSize = 0;
  double eps = 0;
  std::vector<FoldTarget> folds;
  bool sharing = false;  // a consumer saves the norm's output for backward (a trainable weight or LoRA A)
  // Where the rewrite happens: "type MLP" (activations: the op in that module type's code, every instance),
  // "call Block.norm1" (norms: the norm module's call in its parent's code, every instance of the parent).
  std::string unit;
  std::string parentPath;  // norms: the module whose code calls the norm, and the attribute it calls
  std::string attribute;
};

}  // namespace lowmem
