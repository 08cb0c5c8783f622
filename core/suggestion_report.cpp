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

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f s", s);
  return buf;
}

std::string percentOf(double part, double whole) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.1f%%", whole > 0 ? 100.0 * part / whole : 0.0);
  return buf;
}

// The alternative beside the swaps, as the paper's Figure 1 sets them side by side.
void writeCheckpointing(const Suggestions& s, bool md, std::ostream& out) {
  const auto& c = s.checkpointing;
  if (!c.found) {
    out << (md ? "\nActivation checkpointing: not priced (" : "\ncheckpointing   not priced (") << c.why
        << ")\n";
    return;
  }
  const std::string what = "per block (" + c.level + ", " + std::to_string(c.blocks.size()) + " blocks)";
  const std::string peak =
      formatBytes(c.predictedPeak) + " (" + percentChange(c.baselinePeak, c.predictedPeak) + ")";
  const std::string cost = "recomputes " + seconds(c.recomputeSeconds) + " of forward a step (" +
                           percentOf(c.recomputeSeconds, c.stepSeconds) + " of the " +
                           seconds(c.stepSeconds) + " traced step)";
  if (md) {
    out << "\n| alternative | predicted peak | predicted step time |\n|---|---|---|\n"
        << "| swaps marked patched (this table) | " << formatBytes(s.predictedPeak) << " ("
        << percentChange(s.baselinePeak, s.predictedPeak)
        << ") | unchanged in the paper; `lowmem patch --session` measures it |\n"
        << "| activation checkpointing " << what << " | " << peak << " | " << cost << " |\n";
    return;
  }
  out << "checkpointing   " << peak << " " << what << ": drops " << formatBytes(c.droppedBytes)
      << ", re-materialises " << formatBytes(c.rematerialisedBytes) << " in each block's backward; " << cost
      << "\n";
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
    writeCheckpointing(s, true, out);
    return;
  }
  size_t w = 4;
  for (const auto& site : s.sites)
    w = std::max(w, siteLabel(site.plan).size());
  for (const auto& site : s.sites) {
    out << (site.chosen ? "* " : "  ") << std::left << std::setw(static_cast<int>(w)) << siteLabel(site.plan)
        << "  " << std::setw(9) << siteStatusName(site.status) << "  " << site.why;
    if (site.plan.valid && site.savingBytes > 0)
      out << "; peak if alone " << formatBytes(site.predictedPeak) << " ("
          << percentChange(s.baselinePeak, site.predictedPeak) << ")";
    out << "\n";
  }
  out << "\n";
  writeSuggestionSummary(s, out);
}

void writeSuggestionSummary(const Suggestions& s, std::ostream& out) {
  int chosen = 0;
  for (const auto& site : s.sites)
    chosen += site.chosen;
  out << "baseline peak   " << formatBytes(s.baselinePeak);
  if (!s.baselinePeakAt.empty()) out << " at " << s.baselinePeakAt;
  out << "\npredicted peak  " << formatBytes(s.predictedPeak) << " ("
      << percentChange(s.baselinePeak, s.predictedPeak) << ") with the " << chosen << " sites marked *\n";
  if (chosen > 0 && s.predictedPeak >= s.baselinePeak) {
    // Savings that land where the peak is not: say so rather than list savings that change nothing.
    out << "                the peak does not move: what the marked sites save is not alive at it (" +
               s.baselinePeakAt + "); activation checkpointing or a smaller batch lowers that moment\n";
  }
  for (const auto& site : s.sites) {
    if (!isSwappableActivationKind(site.plan.site.kind)) continue;
    out << "activation code " << site.plan.bits << " bits an element"
        << (site.plan.bits == 2 ? " (the paper's ReGELU2/ReSiLU2; --bits 3 or 4 keep closer gradients)\n"
                                : " (ReGELU/ReSiLU-" + std::to_string(site.plan.bits) + ")\n");
    if (!s.predictedPeakByBits.empty()) {
      out << "peak by bits   ";
      for (const auto& [bits, peak] : s.predictedPeakByBits)
        out << " " << bits << " bits " << formatBytes(peak) << " (" << percentChange(s.baselinePeak, peak)
            << ");";
      out << " gradients: `lowmem validate --bits N`\n";
    }
    break;
  }
  writeCheckpointing(s, false, out);
}

namespace {

nlohmann::json siteJson(const SiteSuggestion& site) {
  nlohmann::json folds = nlohmann::json::array();
  for (const auto& f : site.plan.folds)
    folds.push_back({{"weight", f.weight},
                     {"bias", f.bias},
                     {"adds_bias", f.addsBias},
                     {"transposed", f.transposed},
                     {"via_dropout", f.viaDropout},
                     {"trainable", f.trainable}});
  return {{"ordinal", site.plan.site.ordinal},
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
          {"chosen", site.chosen}};
}

nlohmann::json checkpointingJson(const CheckpointPricing& c) {
  nlohmann::json blocks = nlohmann::json::array();
  for (const auto& b : c.blocks) {
    blocks.push_back({{"module", b.module},
                      {"activation_bytes", b.activationBytes},
                      {"kept_bytes", b.keptBytes},
                      {"forward_seconds", b.forwardSeconds}});
  }
  nlohmann::json checkpointing = {{"found", c.found}};
  if (c.found) {
    checkpointing.update({{"level", c.level},
                          {"blocks", blocks},
                          {"dropped_bytes", c.droppedBytes},
                          {"rematerialised_bytes", c.rematerialisedBytes},
                          {"predicted_peak", c.predictedPeak},
                          {"recompute_seconds", c.recomputeSeconds},
                          {"step_seconds", c.stepSeconds}});
  } else {
    checkpointing["why"] = c.why;
  }
  return checkpointing;
}

}  // namespace

nlohmann::json suggestionsJson(const Suggestions& s) {
  nlohmann::json sites = nlohmann::json::array();
  for (const auto& site : s.sites)
    sites.push_back(siteJson(site));
  nlohmann::json byBits = nlohmann::json::object();
  for (const auto& [bits, peak] : s.predictedPeakByBits)
    byBits[std::to_string(bits)] = peak;
  return {{"baseline_peak", s.baselinePeak},
          {"baseline_peak_at", s.baselinePeakAt},
          {"predicted_peak", s.predictedPeak},
          {"predicted_peak_by_bits", byBits},
          {"sites", sites},
          {"checkpointing", checkpointingJson(s.checkpointing)}};
}

}  // namespace lowmem
