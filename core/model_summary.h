#pragma once
// What `lowmem info` knows about a model: its module tree with parameter counts under a trainable selection,
// its forward signature and its swap-candidate sites. Plain data, filled by the profiler and patcher layers.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/swap_site.h"

namespace lowmem {

struct ParameterCounts {
  int64_t params = 0;
  int64_t bytes = 0;
  int64_t trainableParams = 0;
  int64_t trainableBytes = 0;

  ParameterCounts& operator+=(const ParameterCounts& o) {
    params += o.params;
    bytes += o.bytes;
    trainableParams += o.trainableParams;
    trainableBytes += o.trainableBytes;
    return *this;
  }
};

struct ModuleRow {
  std::string path;  // dotted instance path; "" is the root
  std::string type;  // TorchScript class name (unqualified)
  int depth = 0;
  ParameterCounts own;    // parameters registered directly on this module
  ParameterCounts total;  // this module and everything below it
  int64_t bufferBytes = 0;
};

struct ModelSummary {
  std::string file;
  std::string forwardSignature;
  std::string trainable;  // the selection's text
  std::string inputHint;  // bundled models record an example input spec; "" otherwise
  std::vector<std::string> appliedRewrites;
  std::string baseModel;           // a patched model's "sha256:HEX" of the unpatched file; "" otherwise
  std::vector<ModuleRow> modules;  // pre-order, root first
  std::vector<SwapSite> sites;     // forward order

  const ModuleRow& root() const { return modules.front(); }
  std::map<SiteKind, int> siteCounts() const;
};

}  // namespace lowmem
