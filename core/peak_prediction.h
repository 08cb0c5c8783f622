#pragma once
// Predicts what a swap does to a measured step, from the baseline profile alone: which storages the site's
// backward no longer keeps (they die when the site's forward ends), which it keeps longer (a norm's output,
// now saved by the norm too), and what it adds (2-bit codes, a norm's rstd). Replaying the timeline with
// those changes gives the predicted peak, per site and for a chosen set.

#include <cstdint>
#include <string>
#include <vector>

#include "core/profile.h"
#include "core/site_plan.h"

namespace lowmem {

struct AddedStorage {
  int64_t bytes = 0;
  int64_t allocSeq = 0;
  int64_t freeSeq = -1;  // -1: alive at the end
};

struct SiteEffect {
  bool found = false;                               // the site's ops were found in the trace
  std::string note;                                 // why not found, or what the effect rests on
  std::vector<std::pair<size_t, int64_t>> newFree;  // storage index -> new free seq (-1: alive at the end)
  std::vector<AddedStorage> added;
  int64_t releasedBytes = 0;         // bytes the site's backward no longer keeps
  int64_t addedBytes = 0;            // codes / rstd, and a norm output newly kept
  int64_t sharedOutputBytes = 0;     // a norm output a consumer kept already, now also saved by the norm
  int64_t droppedGradientBytes = 0;  // gradients of a folded affine the patched step no longer makes
};

// `occurrence`: the site's index among the plan's sites with the same module path and kind (forward order).
// `elementBytes`: bytes per element of the site's activations (4 for float32) where the trace recorded no
// input shapes; with shapes, each site's own (under autocast a model mixes 16- and 32-bit activations).
SiteEffect siteEffect(const Trace& trace, const Profile& profile, const SitePlan& plan, int occurrence,
                      int elementBytes);

// The peak of the baseline timeline replayed with `effects` applied together.
int64_t predictedPeak(const Profile& profile, const std::vector<const SiteEffect*>& effects);

}  // namespace lowmem
