#include "core/comparison.h"

#include <cctype>
#include <iomanip>
#include <map>
#include <set>

#include "core/applied_rewrite.h"
#include "core/format.h"
#include "core/peak_breakdown.h"
#include "core/step_timing.h"
#include "core/suggestion_report.h"

namespace lowmem {
namespace {

std::map<std::string, int64_t> rowsMap(const ByteRows& rows) {
  return std::map<std::string, int64_t>(rows.begin(), rows.end());
}

}  // namespace

int64_t bytesHeldBy(const Trace& t, const Profile& p, SiteKind kind, int bits, const std::string& module,
                    int occurrence) {
  const std::string opName = replacementOp(kind, bits);
  int seen = 0;
  int32_t target = -1;
  for (size_t i = 0; i < t.ops.size() && target < 0; ++i) {
    const auto& op = t.ops[i];
    if (op.phase == Phase::kForward && op.scope == OpScope::kFunction && t.str(op.name) == opName &&
        t.str(op.module) == module && seen++ == occurrence)
      target = static_cast<int32_t>(i);
  }
  if (target < 0) return 0;
  const auto under = [&](int32_t op) { return t.ranWithin(op, target); };
  // What the op's backward keeps, and an MS-norm's output wherever a backward keeps it: its consumers may
  // release the shared output last, or the norm have no backward node of its own. (An activation's output
  // is its consumers' before and after the swap.)
  const bool norm = isNormKind(kind);
  int64_t bytes = 0;
  for (const auto& s : p.storages) {
    if (under(s.holderForwardOp) || (norm && s.holderOp >= 0 && under(s.allocOp))) bytes += s.bytes;
  }
  return bytes;
}

namespace {

nlohmann::json categoriesAtPeak(const SessionRun& base, const SessionRun& patched) {
  auto before = rowsMap(peakBreakdown(base.trace, base.profile).byCategory);
  auto after = rowsMap(peakBreakdown(patched.trace, patched.profile).byCategory);
  std::set<std::string> names;
  for (const auto& [k, v] : before)
    names.insert(k);
  for (const auto& [k, v] : after)
    names.insert(k);
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& n : names)
    rows.push_back({{"category", n}, {"before", before[n]}, {"after", after[n]}});
  return rows;
}

nlohmann::json moduleDeltas(const SessionRun& base, const SessionRun& patched) {
  std::map<std::string, std::pair<int64_t, int64_t>> m;
  for (const auto& [k, v] : base.profile.moduleActivations)
    m[k].first = v.inclusive;
  for (const auto& [k, v] : patched.profile.moduleActivations)
    m[k].second = v.inclusive;
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& [k, v] : m) {
    if (v.first != v.second)
      rows.push_back({{"module", k.empty() ? "(root)" : k}, {"before", v.first}, {"after", v.second}});
  }
  return rows;
}

SiteKind siteKindNamed(const std::string& name) {
  for (auto kind : allSiteKinds()) {
    if (name == siteKindName(kind)) return kind;
  }
  return SiteKind::kGeluTanh;  // no replacement op: nothing is found held by it
}

// Each chosen site's predicted saving beside what its replacement's backward keeps in the patched run.
nlohmann::json siteSavings(const SessionRun& patched, const nlohmann::json& suggestions) {
  nlohmann::json sites = nlohmann::json::array();
  std::map<std::pair<std::string, std::string>, int> occurrences;
  for (const auto& s : suggestions.value("sites", nlohmann::json::array())) {
    if (!s.value("chosen", false)) continue;
    const std::string kindName = s.value("kind", "");
    const SiteKind kind = siteKindNamed(kindName);
    const std::string where = isNormKind(kind) ? s.value("parent", "") : s.value("module", "");
    const int occurrence = occurrences[{where, kindName}]++;
    // A norm's output that a consumer saved before is released by the MS-norm after: count it on both sides.
    const int64_t keptBefore =
        s.value("released_bytes", int64_t{0}) + s.value("shared_output_bytes", int64_t{0});
    const int64_t keptAfter =
        bytesHeldBy(patched.trace, patched.profile, kind, s.value("bits", 2), where, occurrence);
    sites.push_back({{"ordinal", s.value("ordinal", -1)},
                     {"kind", kindName},
                     {"module", s.value("module", "")},
                     {"predicted_saving", s.value("saving_bytes", int64_t{0})},
                     {"kept_before", keptBefore},
                     {"kept_after", keptAfter},
                     {"measured_saving", keptBefore - keptAfter}});
  }
  return sites;
}

}  // namespace

nlohmann::json comparisonJson(const SessionRun& base, const SessionRun& patched,
                              const nlohmann::json& record) {
  const auto pb = base.profile.peak().total, pp = patched.profile.peak().total;
  const auto sug = record.value("suggestions", nlohmann::json::object());
  const int64_t predicted = sug.value("predicted_peak", pb);
  return {{"baseline", base.info.label},
          {"patched", patched.info.label},
          {"baseline_model", base.info.modelPath},
          {"patched_model", patched.info.modelPath},
          {"has_prediction", sug.contains("predicted_peak")},
          {"peak_before", pb},
          {"peak_after", pp},
          {"peak_predicted", predicted},
          {"measured_reduction", pb - pp},
          {"predicted_reduction", pb - predicted},
          {"activations_before", base.profile.activationBytes},
          {"activations_after", patched.profile.activationBytes},
          {"categories_at_peak", categoriesAtPeak(base, patched)},
          {"module_deltas", moduleDeltas(base, patched)},
          {"sites", siteSavings(patched, sug)},
          {"timing", record.value("timing", nlohmann::json::object())},
          {"verification", record.value("verification", nlohmann::json::object())},
          {"rewrites", record.value("rewrites", nlohmann::json::array())}};
}

namespace {

void writeSummary(const nlohmann::json& c, bool md, std::ostream& out) {
  const int64_t pb = c["peak_before"], pa = c["peak_after"], pp = c["peak_predicted"];
  const int64_t measured = c["measured_reduction"], predicted = c["predicted_reduction"];
  char accuracy[64] = "n/a";
  if (predicted != 0)
    std::snprintf(accuracy, sizeof accuracy, "%.1f%% of predicted",
                  100.0 * static_cast<double>(measured) / predicted);
  auto line = [&](const std::string& k, const std::string& v) {
    if (md) {
      out << "- **" << k << "**: " << v << "\n";
    } else {
      out << std::left << std::setw(20) << k << v << "\n";
    }
  };
  if (md)
    out << "## Baseline `" << printable(c["baseline"].get<std::string>()) << "` vs patched `"
        << printable(c["patched"].get<std::string>()) << "`\n\n";
  line("peak", formatBytes(pb) + " -> " + formatBytes(pa) + " (" + percentChange(pb, pa) + ")");
  if (c.value("has_prediction", true)) {
    line("predicted peak", formatBytes(pp) + " (" + percentChange(pb, pp) + "); measured reduction " +
                               formatBytes(measured) + " = " + accuracy);
  } else {
    // Two runs that no patch joined (compare --with): what changed, without a prediction to hold it to.
    line("models", printable(c.value("baseline_model", std::string())) + " -> " +
                       printable(c.value("patched_model", std::string())));
  }
  line("activations", formatBytes(c["activations_before"]) + " -> " + formatBytes(c["activations_after"]));
  line("step time ratio", stepTimingText(c["timing"]));
  if (c["verification"].contains("forward_ok")) {
    char v[160];
    std::snprintf(v, sizeof v, "forward %s (max |diff| %.3g), min gradient cosine %.4f",
                  c["verification"]["forward_ok"].get<bool>() ? "ok" : "FAILED",
                  c["verification"]["max_abs_diff"].get<double>(),
                  c["verification"]["min_cosine"].get<double>());
    line("verification", v);
  }
}

// A table of name and two byte columns: Markdown, or indented text with `separator` between the columns.
void writeByteTable(const std::string& title, const std::string& header,
                    const std::vector<std::string>& names,
                    const std::vector<std::pair<int64_t, int64_t>>& values, bool md, int nameWidth,
                    const std::string& separator, std::ostream& out) {
  if (md) {
    out << "\n### " << title << "\n\n| " << header << " |\n|---|---|---|\n";
  } else {
    std::string lower = title;
    lower[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(lower[0])));
    out << "\n" << lower << "\n";
  }
  for (size_t i = 0; i < names.size(); ++i) {
    if (md) {
      out << "| " << names[i] << " | " << formatBytes(values[i].first) << " | "
          << formatBytes(values[i].second) << " |\n";
    } else {
      out << "  " << std::left << std::setw(nameWidth) << names[i] << std::right << std::setw(12)
          << formatBytes(values[i].first) << separator << std::setw(12) << formatBytes(values[i].second)
          << "\n";
    }
  }
}

}  // namespace

void writeComparison(const nlohmann::json& c, ReportFormat f, std::ostream& out) {
  const bool md = f == ReportFormat::kMarkdown;
  writeSummary(c, md, out);
  std::vector<std::string> names;
  std::vector<std::pair<int64_t, int64_t>> values;
  for (const auto& r : c["categories_at_peak"]) {
    names.push_back(r["category"]);
    values.emplace_back(r["before"], r["after"]);
  }
  writeByteTable("At the peak, by category", "category | before | after", names, values, md, 18, " -> ", out);
  names.clear();
  values.clear();
  for (const auto& s : c["sites"]) {
    names.push_back("#" + std::to_string(s["ordinal"].get<int>()) + " " + s["kind"].get<std::string>() + " " +
                    s["module"].get<std::string>());
    values.emplace_back(s["predicted_saving"], s["measured_saving"]);
  }
  writeByteTable(md ? "Sites: predicted vs measured saving"
                    : "Sites: predicted vs measured saving (bytes their backward keeps)",
                 "site | predicted | measured", names, values, md, 40, "", out);
  names.clear();
  values.clear();
  for (const auto& m : c["module_deltas"]) {
    if (names.size() == 20) break;
    names.push_back(m["module"]);
    values.emplace_back(m["before"], m["after"]);
  }
  writeByteTable("Module activation deltas (inclusive)", "module | before | after", names, values, md, 40,
                 " -> ", out);
}

}  // namespace lowmem
