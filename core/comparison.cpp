#include "core/comparison.h"

#include <iomanip>
#include <map>
#include <set>

#include "core/format.h"
#include "core/peak_breakdown.h"
#include "core/suggestion_report.h"

namespace lowmem {
namespace {

const char* replacementOp(const std::string& kind) {
  if (kind == "gelu") return "lowmem::regelu2";
  if (kind == "silu") return "lowmem::resilu2";
  if (kind == "layer_norm") return "lowmem::ms_layer_norm";
  return "lowmem::ms_rms_norm";
}

std::map<std::string, int64_t> rowsMap(const ByteRows& rows) {
  return std::map<std::string, int64_t>(rows.begin(), rows.end());
}

}  // namespace

int64_t bytesHeldBy(const Trace& t, const Profile& p, const std::string& opName, const std::string& module,
                    int occurrence) {
  int seen = 0;
  int32_t target = -1;
  for (size_t i = 0; i < t.ops.size() && target < 0; ++i) {
    const auto& op = t.ops[i];
    if (op.phase == Phase::kForward && op.scope == OpScope::kFunction && t.str(op.name) == opName &&
        t.str(op.module) == module && seen++ == occurrence)
      target = static_cast<int32_t>(i);
  }
  if (target < 0) return 0;
  const auto under = [&](int32_t op) {
    for (; op >= 0; op = t.ops[static_cast<size_t>(op)].parent) {
      if (op == target) return true;
    }
    return false;
  };
  // What the op's backward keeps, and an MS-norm's output wherever a backward keeps it: its consumers may
  // release the shared output last, or the norm have no backward node of its own. (An activation's output
  // is its consumers' before and after the swap.)
  const bool norm = opName == "lowmem::ms_layer_norm" || opName == "lowmem::ms_rms_norm";
  int64_t bytes = 0;
  for (const auto& s : p.storages) {
    if (under(s.holderForwardOp) || (norm && s.holderOp >= 0 && under(s.allocOp))) bytes += s.bytes;
  }
  return bytes;
}

nlohmann::json comparisonJson(const SessionRun& base, const SessionRun& patched,
                              const nlohmann::json& record) {
  const auto pb = base.profile.peak().total, pp = patched.profile.peak().total;
  const auto sug = record.value("suggestions", nlohmann::json::object());
  const int64_t predicted = sug.value("predicted_peak", pb);
  nlohmann::json categories = nlohmann::json::array();
  {
    auto before = rowsMap(peakBreakdown(base.trace, base.profile).byCategory);
    auto after = rowsMap(peakBreakdown(patched.trace, patched.profile).byCategory);
    std::set<std::string> names;
    for (const auto& [k, v] : before)
      names.insert(k);
    for (const auto& [k, v] : after)
      names.insert(k);
    for (const auto& n : names)
      categories.push_back({{"category", n}, {"before", before[n]}, {"after", after[n]}});
  }
  nlohmann::json modules = nlohmann::json::array();
  {
    std::map<std::string, std::pair<int64_t, int64_t>> m;
    for (const auto& [k, v] : base.profile.moduleActivations)
      m[k].first = v.inclusive;
    for (const auto& [k, v] : patched.profile.moduleActivations)
      m[k].second = v.inclusive;
    for (const auto& [k, v] : m) {
      if (v.first != v.second)
        modules.push_back({{"module", k.empty() ? "(root)" : k}, {"before", v.first}, {"after", v.second}});
    }
  }
  nlohmann::json sites = nlohmann::json::array();
  std::map<std::pair<std::string, std::string>, int> occurrences;
  for (const auto& s : sug.value("sites", nlohmann::json::array())) {
    if (!s.value("chosen", false)) continue;
    const std::string kind = s.value("kind", "");
    const bool norm = kind == "layer_norm" || kind == "rms_norm";
    const std::string where = norm ? s.value("parent", "") : s.value("module", "");
    const int occurrence = occurrences[{where, kind}]++;
    // A norm's output that a consumer saved before is released by the MS-norm after: count it on both sides.
    const int64_t keptBefore =
        s.value("released_bytes", int64_t{0}) + s.value("shared_output_bytes", int64_t{0});
    const int64_t keptAfter =
        bytesHeldBy(patched.trace, patched.profile, replacementOp(kind), where, occurrence);
    sites.push_back({{"ordinal", s.value("ordinal", -1)},
                     {"kind", kind},
                     {"module", s.value("module", "")},
                     {"predicted_saving", s.value("saving_bytes", int64_t{0})},
                     {"kept_before", keptBefore},
                     {"kept_after", keptAfter},
                     {"measured_saving", keptBefore - keptAfter}});
  }
  const auto timing = record.value("timing", nlohmann::json::object());
  return {{"baseline", base.info.label},
          {"patched", patched.info.label},
          {"peak_before", pb},
          {"peak_after", pp},
          {"peak_predicted", predicted},
          {"measured_reduction", pb - pp},
          {"predicted_reduction", pb - predicted},
          {"activations_before", base.profile.activationBytes},
          {"activations_after", patched.profile.activationBytes},
          {"categories_at_peak", categories},
          {"module_deltas", modules},
          {"sites", sites},
          {"timing", timing},
          {"verification", record.value("verification", nlohmann::json::object())},
          {"rewrites", record.value("rewrites", nlohmann::json::array())}};
}

void writeComparison(const nlohmann::json& c, ReportFormat f, std::ostream& out) {
  const bool md = f == ReportFormat::kMarkdown;
  const int64_t pb = c["peak_before"], pa = c["peak_after"], pp = c["peak_predicted"];
  const int64_t measured = c["measured_reduction"], predicted = c["predicted_reduction"];
  char ratio[64] = "not measured";
  const auto& timing = c["timing"];
  if (timing.contains("ratio")) {
    std::snprintf(ratio, sizeof ratio, "%.3f (%.4f s -> %.4f s, medians of %d alternating steps)",
                  timing["ratio"].get<double>(), timing["baseline_seconds"].get<double>(),
                  timing["patched_seconds"].get<double>(), timing["rounds"].get<int>());
  }
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
    out << "## Baseline `" << c["baseline"].get<std::string>() << "` vs patched `"
        << c["patched"].get<std::string>() << "`\n\n";
  line("peak", formatBytes(pb) + " -> " + formatBytes(pa) + " (" + percentChange(pb, pa) + ")");
  line("predicted peak", formatBytes(pp) + " (" + percentChange(pb, pp) + "); measured reduction " +
                             formatBytes(measured) + " = " + accuracy);
  line("activations", formatBytes(c["activations_before"]) + " -> " + formatBytes(c["activations_after"]));
  line("step time ratio", ratio);
  if (c["verification"].contains("forward_ok")) {
    char v[160];
    std::snprintf(v, sizeof v, "forward %s (max |diff| %.3g), min gradient cosine %.4f",
                  c["verification"]["forward_ok"].get<bool>() ? "ok" : "FAILED",
                  c["verification"]["max_abs_diff"].get<double>(),
                  c["verification"]["min_cosine"].get<double>());
    line("verification", v);
  }
  out << (md ? "\n### At the peak, by category\n\n| category | before | after |\n|---|---|---|\n"
             : "\nat the peak, by category\n");
  for (const auto& r : c["categories_at_peak"]) {
    if (md) {
      out << "| " << r["category"].get<std::string>() << " | " << formatBytes(r["before"]) << " | "
          << formatBytes(r["after"]) << " |\n";
    } else {
      out << "  " << std::left << std::setw(18) << r["category"].get<std::string>() << std::right
          << std::setw(12) << formatBytes(r["before"]) << " -> " << std::setw(12) << formatBytes(r["after"])
          << "\n";
    }
  }
  out << (md ? "\n### Sites: predicted vs measured saving\n\n| site | predicted | measured |\n|---|---|---|\n"
             : "\nsites: predicted vs measured saving (bytes their backward keeps)\n");
  for (const auto& s : c["sites"]) {
    const std::string name = "#" + std::to_string(s["ordinal"].get<int>()) + " " +
                             s["kind"].get<std::string>() + " " + s["module"].get<std::string>();
    if (md) {
      out << "| " << name << " | " << formatBytes(s["predicted_saving"]) << " | "
          << formatBytes(s["measured_saving"]) << " |\n";
    } else {
      out << "  " << std::left << std::setw(40) << name << std::right << std::setw(12)
          << formatBytes(s["predicted_saving"]) << std::setw(12) << formatBytes(s["measured_saving"]) << "\n";
    }
  }
  out << (md ? "\n### Module activation deltas (inclusive)\n\n| module | before | after |\n|---|---|---|\n"
             : "\nmodule activation deltas (inclusive)\n");
  int shown = 0;
  for (const auto& m : c["module_deltas"]) {
    if (++shown > 20) break;
    if (md) {
      out << "| " << m["module"].get<std::string>() << " | " << formatBytes(m["before"]) << " | "
          << formatBytes(m["after"]) << " |\n";
    } else {
      out << "  " << std::left << std::setw(40) << m["module"].get<std::string>() << std::right
          << std::setw(12) << formatBytes(m["before"]) << " -> " << std::setw(12) << formatBytes(m["after"])
          << "\n";
    }
  }
}

}  // namespace lowmem
