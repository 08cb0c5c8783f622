#include "core/swap_site.h"

namespace lowmem {

const char* siteKindName(SiteKind kind) {
  switch (kind) {
    case SiteKind::kGelu:
      return "gelu";
    case SiteKind::kGeluTanh:
      return "gelu_tanh";
    case SiteKind::kSilu:
      return "silu";
    case SiteKind::kLayerNorm:
      return "layer_norm";
    case SiteKind::kRmsNorm:
      return "rms_norm";
    case SiteKind::kAttention:
      return "attention";
  }
  return "unknown";
}

const std::vector<SiteKind>& allSiteKinds() {
  static const std::vector<SiteKind> kinds = {SiteKind::kGelu,    SiteKind::kGeluTanh,
                                              SiteKind::kSilu,    SiteKind::kLayerNorm,
                                              SiteKind::kRmsNorm, SiteKind::kAttention};
  return kinds;
}

}  // namespace lowmem
