#pragma once
// What the patcher found out about one swap site, as plain data: whether the memory-sharing op may replace it
// (and why not), which parameters receive the folded affine, whether a consumer shares the saved output, and
// the code the rewrite edits (module types are shared by instances; the rewriter splits them where they
// differ).

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/swap_site.h"

namespace lowmem {

// A consumer of a norm's output that takes the folded affine: a linear with a parameter weight.
struct FoldTarget {
  std::string weight;  // dotted parameter path
  std::string bias;    // "" when the linear has none
  // The linear has no bias but its weight's own module calls it (`linear(x, self.weight)`, a LoRA A): W*beta
  // becomes a constant bias buffer that the rewrite adds to that module's code.
  bool addsBias = false;
  bool transposed = false;  // GPT-2's Conv1D: addmm(b, x, W) with W of shape [in, out]
  bool trainable = false;
  // Reached through a dropout (exact for a norm without beta: the mask is elementwise): the linear saves the
  // dropout's output, never the norm's.
  bool viaDropout = false;
};

// Attention: the ATen ops the chain runs around its softmax, as a trace records them in its module (views
// left out), which the prediction finds the site's ops by.
struct AttentionForm {
  std::vector<std::string> opsBefore;  // from matmul(q, kᵀ) (or q's scale) up to the softmax, forward order
  std::vector<std::string> opsAfter;   // after the softmax, up to matmul(·, v)
  bool scaledQ = false;                // the scale is applied to q before the first matmul
  bool masked = false;
  // The module whose code runs the dropout on the probabilities when it is not the site's own (nn.Dropout
  // called from the attention's code); "" otherwise.
  std::string dropoutModule;
  bool dropout = false;   // drops its probabilities in training (the op draws a block of factors too)
  bool maskGrad = false;  // its mask is computed from a trainable parameter: the op returns its gradient
  // A window mask is added to a view that splits the scores' batch (Swin's shifted windows): the op takes it
  // plus the chain's other mask as one tensor, which it keeps instead of that other mask.
  bool windowMask = false;
  // Calls that ask the module for the probabilities its code returns on request (nn.MultiheadAttention's
  // `need_weights=True`, its default) and drop them: the rewrite passes false there, which changes nothing
  // else they read. The paths of the modules whose code makes such a call; the argument's index among the
  // called forward's arguments (self excluded) and its name.
  std::vector<std::string> askingCallers;
  int askArgument = -1;
  std::string askName;
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
  // Post-LN: residual adds in the parent's code that take the norm's output. They get the affine re-applied
  // (y * gamma + beta, computed after the MS-norm) since they cannot take a fold; an add saves nothing.
  int residualUses = 0;
  // Where the rewrite happens: "type MLP" (activations: the op in that module type's code), "call
  // Block.norm1" (norms: the norm module's call in its parent's code). Instances share their type's code:
  // when only some are patched, the rewriter gives them (or the others) a type of their own.
  std::string unit;
  // Activations: bits of the saved code per element (ReGELU-k / ReSiLU-k; 2 is the paper's ReGELU2/ReSiLU2).
  int bits = 2;
  std::string parentPath;  // norms: the module whose code calls the norm, and the attribute it calls
  std::string attribute;
  AttentionForm attention;
};

// lowmem::attention's CUDA kernel compiles but has not yet run on a GPU: until scripts/gpu-check has checked
// it there, a step on the GPU leaves attention sites as they are, with the reason.
inline void refuseAttentionOffCpu(std::vector<SitePlan>& plans, bool cpu) {
  for (auto& p : plans) {
    if (cpu || p.site.kind != SiteKind::kAttention || !p.valid) continue;
    p.valid = false;
    p.reason =
        "the step runs on the GPU, where lowmem::attention's kernel has not yet been checked "
        "(scripts/gpu-check)";
  }
}

// What the CUDA kernel does not do yet (drop probabilities, give a mask its gradient) leaves a site as it is
// for a step on the GPU even where the kernel is trusted, with the reason.
inline void refuseAttentionCpuOnly(std::vector<SitePlan>& plans, bool cpu) {
  for (auto& p : plans) {
    if (cpu || p.site.kind != SiteKind::kAttention || !p.valid) continue;
    if (!p.attention.dropout && !p.attention.maskGrad) continue;
    p.valid = false;
    p.reason = std::string("lowmem::attention's CUDA kernel does not yet ") +
               (p.attention.dropout ? "drop probabilities" : "give a mask its gradient") +
               "; the step runs on the GPU";
  }
}

// Whether any plan is a valid attention site, whose prediction needs the trace's shapes and argument
// storages.
inline bool anyValidAttention(const std::vector<SitePlan>& plans) {
  for (const auto& p : plans) {
    if (p.valid && p.site.kind == SiteKind::kAttention) return true;
  }
  return false;
}

// The module whose code a plan rewrites: an activation's own module, a norm's parent (which calls it).
inline const std::string& rewriteHolder(const SitePlan& p) {
  return isNormKind(p.site.kind) ? p.parentPath : p.site.modulePath;
}

// Which rewrite of that code: the activation kind, or the call of one norm attribute with the eps and size
// the rewrite writes into the code as constants (instances of one type may keep different eps in an
// attribute: they need types of their own). Sites with the same holder and key are one edit of one piece of
// code: patched together or not at all.
inline std::string rewriteKey(const SitePlan& p) {
  if (!isNormKind(p.site.kind)) return siteKindName(p.site.kind);
  char eps[32];
  std::snprintf(eps, sizeof eps, "%.17g", p.eps);
  return "call " + p.attribute + " eps=" + eps + " n=" + std::to_string(p.normalizedSize);
}

}  // namespace lowmem
