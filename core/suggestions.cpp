#include "core/suggestions.h"

#include <map>

#include "core/error.h"
#include "core/format.h"
#include "core/peak_breakdown.h"

namespace lowmem {
namespace {

bool selects(const std::string& selector, const SitePlan& p) {
  return selector == siteKindName(p.site.kind) || selector == p.site.modulePath ||
         selector == "#" + std::to_string(p.site.ordinal);
}

}  // namespace

void SwapSelection::validate() const {
  if (bits < 2 || bits > 4)
    throw SettingError("bits", "expected 2, 3 or 4 bits per activation element, got " + std::to_string(bits));
}

const char* siteStatusName(SiteStatus status) {
  switch (status) {
    case SiteStatus::kSwap:
      return "swap";
    case SiteStatus::kNoSaving:
      return "no saving";
    case SiteStatus::kInvalid:
      return "invalid";
  }
  return "?";
}

namespace {

// One site on its own: its effect on the baseline's peak and its status with the reason.
SiteSuggestion assessSite(const Trace& trace, const Profile& profile, const SitePlan& plan, int occurrence,
                          int elementBytes) {
  SiteSuggestion s;
  s.plan = plan;
  if (!plan.valid) {
    s.why = plan.reason;
    return s;
  }
  s.effect = siteEffect(trace, profile, plan, occurrence, elementBytes);
  s.savingBytes = s.effect.releasedBytes - s.effect.addedBytes;
  s.predictedPeak = s.effect.found ? predictedPeak(profile, {&s.effect}) : profile.peak().total;
  if (!s.effect.found) {
    s.status = SiteStatus::kNoSaving;
    s.why = s.effect.note;
  } else if (s.savingBytes <= 0) {
    s.status = SiteStatus::kNoSaving;
    s.why = !s.effect.note.empty() ? s.effect.note
            : s.effect.releasedBytes == 0
                ? "its backward keeps nothing that would be released (another op keeps "
                  "its input alive)"
                : "it would add " + formatBytes(s.effect.addedBytes) + " for the " +
                      formatBytes(s.effect.releasedBytes) + " it releases";
    if (!plan.reason.empty()) s.why += "; " + plan.reason;
  } else {
    s.status = SiteStatus::kSwap;
    s.why = "saves " + formatBytes(s.savingBytes) + (plan.reason.empty() ? "" : "; " + plan.reason);
  }
  return s;
}

bool selected(const std::vector<std::string>& only, const SitePlan& p) {
  if (only.empty()) return true;
  for (const auto& selector : only) {
    if (selects(selector, p)) return true;
  }
  return false;
}

void checkEverySelectorMatches(const std::vector<SiteSuggestion>& sites,
                               const std::vector<std::string>& only) {
  for (const auto& selector : only) {
    bool any = false;
    for (const auto& s : sites)
      any = any || selects(selector, s.plan);
    if (!any) {
      throw SettingError("only",
                         "'" + selector +
                             "' matches no site (give a kind: gelu, silu, layer_norm, rms_norm, attention; a "
                             "module path; or #ORDINAL, as `lowmem suggest` lists them)");
    }
  }
}

// A valid site whose code also holds an invalid one of the same kind cannot be rewritten alone.
void markBlockedBy(const std::vector<SiteSuggestion*>& members, const std::string& code) {
  const SiteSuggestion* blocker = nullptr;
  for (const auto* m : members) {
    if (!m->plan.valid) blocker = m;
  }
  for (auto* m : members) {
    if (!m->plan.valid || !blocker) continue;
    m->status = SiteStatus::kInvalid;
    m->why = "shares the code of " + code + " with #" + std::to_string(blocker->plan.site.ordinal) +
             ", which is invalid (" + blocker->why + ")";
  }
}

// Whether one edit (the sites of one kind in one piece of code) is chosen: all its sites valid, all selected
// (a selection that splits it is refused) and a net saving.
bool chooseEdit(const std::pair<std::string, std::string>& edit, const std::vector<SiteSuggestion*>& members,
                const std::vector<std::string>& only) {
  int64_t saving = 0;
  bool valid = true;
  int taken = 0;
  for (const auto* s : members) {
    valid = valid && s->plan.valid && s->effect.found;
    saving += s->savingBytes;
    taken += selected(only, s->plan);
  }
  if (taken == 0) return false;
  const auto code = edit.first.empty() ? std::string("the root module") : edit.first;
  if (taken != static_cast<int>(members.size()) && valid && saving > 0) {
    throw SettingError("only", "the selection takes " + std::to_string(taken) + " of the " +
                                   std::to_string(members.size()) + " " + edit.second +
                                   " sites in the code of " + code +
                                   ", which is one edit; select all of them or none");
  }
  if (!valid) markBlockedBy(members, code);
  return valid && saving > 0;
}

}  // namespace

Suggestions suggestSwaps(const Trace& trace, const Profile& profile, const std::vector<SitePlan>& plans,
                         int elementBytes, const std::vector<std::string>& only) {
  Suggestions out;
  out.baselinePeak = profile.peak().total;
  out.baselinePeakAt = peakMomentText(peakMoment(trace, profile));
  std::map<std::pair<std::string, SiteKind>, int> occurrences;
  for (const auto& plan : plans) {
    const int occurrence = occurrences[{plan.site.modulePath, plan.site.kind}]++;
    out.sites.push_back(assessSite(trace, profile, plan, occurrence, elementBytes));
  }
  checkEverySelectorMatches(out.sites, only);
  // Choose per edit (one piece of code in one instance; instances of a type may differ, the rewriter gives
  // them types of their own).
  std::map<std::pair<std::string, std::string>, std::vector<SiteSuggestion*>> edits;
  for (auto& s : out.sites)
    edits[{rewriteHolder(s.plan), rewriteKey(s.plan)}].push_back(&s);
  std::vector<const SiteEffect*> chosen;
  for (auto& [edit, members] : edits) {
    if (!chooseEdit(edit, members, only)) continue;
    for (auto* s : members) {
      s->chosen = true;
      chosen.push_back(&s->effect);
    }
  }
  out.predictedPeak = chosen.empty() ? out.baselinePeak : predictedPeak(profile, chosen);
  return out;
}

}  // namespace lowmem
