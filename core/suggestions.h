#pragma once
// Turns site plans and the baseline profile into suggestions: each site's status (swap, valid but no saving,
// invalid) with the reason, its predicted saving, the peak predicted with it alone and for the chosen set.
// Sites are chosen per edit (the sites of one kind in one instance's code, rewritten together): an edit is
// chosen when all its sites are valid, selected, and together they save memory.

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "core/checkpoint_pricing.h"
#include "core/peak_prediction.h"
#include "core/profile.h"
#include "core/site_plan.h"

namespace lowmem {

// Which sites to consider (`--only`: site kinds, module paths or "#ORDINAL"; empty: every site) and how many
// bits the activation swaps keep per element (2, 3 or 4).
struct SwapSelection {
  std::vector<std::string> only;
  int bits = 2;
  SwapSelection() = default;
  SwapSelection(std::vector<std::string> sites, int activationBits = 2)
      : only(std::move(sites)), bits(activationBits) {}
  SwapSelection(std::initializer_list<std::string> sites) : only(sites) {}
  // SettingError("bits") unless bits is 2, 3 or 4.
  void validate() const;
};

enum class SiteStatus { kSwap, kNoSaving, kInvalid };
const char* siteStatusName(SiteStatus status);  // "swap", "no saving", "invalid"

struct SiteSuggestion {
  SitePlan plan;
  SiteStatus status = SiteStatus::kInvalid;
  std::string why;
  int64_t savingBytes = 0;    // predicted: bytes the site's backward no longer keeps, minus what it adds
  int64_t predictedPeak = 0;  // the baseline's peak replayed with this site alone swapped
  bool chosen = false;
  SiteEffect effect;
};

struct Suggestions {
  std::vector<SiteSuggestion> sites;
  int64_t baselinePeak = 0;
  std::string baselinePeakAt;  // when it happens (peakMomentText): where to look when swaps do not move it
  int64_t predictedPeak = 0;   // with every chosen site swapped
  CheckpointPricing checkpointing;  // the alternative, priced from the same profile (filled by the service)
  // The chosen set's predicted peak with 2, 3 and 4-bit activation codes (filled by the service), so the
  // memory side of the bits trade-off is on the table; `lowmem validate --bits` measures the gradient side.
  std::map<int, int64_t> predictedPeakByBits;
};

// `only`: site kinds ("gelu", "layer_norm", ...), module paths or "#ORDINAL"; empty selects every site.
// SettingError("only") for a selector that matches nothing, or one that splits an edit.
Suggestions suggestSwaps(const Trace& trace, const Profile& profile, const std::vector<SitePlan>& plans,
                         int elementBytes, const std::vector<std::string>& only = {});

}  // namespace lowmem
