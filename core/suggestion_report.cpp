#include "core/suggestion_report.h"

#include <cstdio>
#include <iomanip>

#include "core/format.h"

namespace lowmem {
namespace {

std::string siteLabel(const SitePlan& p) {
  return "#" + std::to_string(p.site.ordinal) + " " + siteKindName(p.site.kind) + " " +
         (p.site.modulePath.empty() ? "(root)" : p.site.modulePath);
}

}  // namespace

std::string percentChange(int64_t before, int64_t after) {
  if (before == 0) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f%%",
                100.0 * static_cast<double>(after - before) / static_cast<double>(before));
  return buf;
}

void writeSuggestions(const Suggestions& s, ReportFormat f, std::ostream& out) {
  const bool md = f == ReportFormat::kMarkdown;
  int chosen = 0;
  for (const auto& site : s.sites)
    chosen += site.chosen;
  if (md) {
    out << "| site | status | predicted saving | peak if alone | patched | why "
           "|\n|---|---|---|---|---|---|\n";
    for (const auto& site : s.sites) {
      out << "| " << siteLabel(site.plan) << " | " << siteStatusName(site.status) << " | "
          << (site.plan.valid ? formatBytes(site.savingBytes) : "") << " | "
          << (site.plan.valid ? formatBytes(site.predictedPeak) : "") << " | " << (site.chosen ? "yes" : "no")
          << " | " << site.why << " |\n";
    }
    out << "\nPredicted peak with the " << chosen << " patched sites: " << formatBytes(s.baselinePeak)
        << " → " << formatBytes(s.predictedPeak) << " (" << percentChange(s.baselinePeak, s.predictedPeak)
        << ").\n";
    return;
  }
  size_t w = 4;
  for (const auto& site : s.sites)
    w = std::max(w, siteLabel(site.plan).size());
  for (const auto& site : s.sites) {
    out << (site.chosen ? "* " : "  ") << std::left << std::setw(static_cast<int>(w)) << siteLabel(site.plan)
        << "  " << std::setw(9) << siteStatusName(site.status) << "  " << site.why << "\n";
  }
  out << "\nbaseline peak   " << formatBytes(s.baselinePeak) << "\npredicted peak  "
      << formatBytes(s.predictedPeak) << " (" << percentChange(s.baselinePeak, s.predictedPeak)
      << ") with the " << chosen << " sites marked *\n";
  for (const auto& site : s.sites) {
    if (site.plan.site.kind != SiteKind::kGelu && site.plan.site.kind != SiteKind::kSilu) continue;
    out << "activation code " << site.plan.bits << " bits an element"
        << (site.plan.bits == 2 ? " (the paper's ReGELU2/ReSiLU2; --bits 3 or 4 keep closer gradients)\n"
                                : " (ReGELU/ReSiLU-" + std::to_string(site.plan.bits) + ")\n");
    break;
  }
}

nlohmann::json suggestionsJson(const Suggestions& s) {
  nlohmann::json sites = nlohmann::json::array();
  for (const auto& site : s.sites) {
    nlohmann::json folds = nlohmann::json::array();
    for (const auto& f : site.plan.folds)
      folds.push_back({{"weight", f.weight}, {"bias", f.bias}, {"lora", f.lora}, {"trainable", f.trainable}});
    sites.push_back({{"ordinal", site.plan.site.ordinal},
                     {"kind", siteKindName(site.plan.site.kind)},
                     {"module", site.plan.site.modulePath},
                     {"module_type", site.plan.site.moduleType},
                     {"form", site.plan.site.form},
                     {"status", siteStatusName(site.status)},
                     {"why", site.why},
                     {"valid", site.plan.valid},
                     {"sharing", site.plan.sharing},
                     {"unit", site.plan.unit},
                     {"parent", site.plan.parentPath},
                     {"folds", folds},
                     {"residual_uses", site.plan.residualUses},
                     {"bits", site.plan.bits},
                     {"released_bytes", site.effect.releasedBytes},
                     {"added_bytes", site.effect.addedBytes},
                     {"shared_output_bytes", site.effect.sharedOutputBytes},
                     {"saving_bytes", site.savingBytes},
                     {"predicted_peak_alone", site.predictedPeak},
                     {"chosen", site.chosen}});
  }
  return {{"baseline_peak", s.baselinePeak}, {"predicted_peak", s.predictedPeak}, {"sites", sites}};
}

}  // namespace lowmem
