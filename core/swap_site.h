#pragma once
// A place in a model's forward graph where a memory-sharing op could stand in for the original.

#include <string>
#include <vector>

namespace lowmem {

enum class SiteKind {
  kGelu,       // aten::gelu, approximate="none": ReGELU2 computes exactly this forward
  kGeluTanh,   // aten::gelu, approximate="tanh": a different function, not swappable
  kSilu,       // aten::silu -> ReSiLU2
  kLayerNorm,  // aten::layer_norm -> MS-LN
  kRmsNorm,    // the HF op chain or aten::rms_norm -> MS-RMSNorm
  // matmul(q, kᵀ) · scale (+ mask) -> softmax -> (dropout) -> matmul(·, v), anchored at the softmax ->
  // lowmem::attention, which keeps q, k, v, the output and a log-sum-exp a row instead of the probabilities
  kAttention,
};

// The norms (rewritten at their call sites, MS-LN / MS-RMSNorm) and the activations that have a
// memory-sharing replacement (rewritten in their module's code, ReGELU-k / ReSiLU-k).
inline bool isNormKind(SiteKind kind) {
  return kind == SiteKind::kLayerNorm || kind == SiteKind::kRmsNorm;
}
inline bool isSwappableActivationKind(SiteKind kind) {
  return kind == SiteKind::kGelu || kind == SiteKind::kSilu;
}

// Stable names used in reports, JSON and `--only`.
const char* siteKindName(SiteKind kind);
const std::vector<SiteKind>& allSiteKinds();

struct SwapSite {
  SiteKind kind = SiteKind::kGelu;
  std::string op;  // the anchor node's kind, e.g. "aten::gelu"; "aten::rsqrt" anchors an RMSNorm chain
  std::string
      form;  // how the site is written, e.g. "approximate=none", "pow/mean/add/rsqrt/mul +cast +weight"
  std::string modulePath;  // dotted instance path of the module whose code holds the op; "" is the root
  std::string moduleType;  // that module's TorchScript class name
  int ordinal = 0;         // position among the sites in forward order
};

}  // namespace lowmem
