#include "core/profile_report.h"

#include <algorithm>
#include <iomanip>
#include <map>

#include "core/format.h"
#include "core/peak_breakdown.h"

namespace lowmem {
namespace {

// "float32 master weights, bf16 autocast on cuda" / "as saved, cpu": what the step computed in, from the
// spec.
std::string precisionText(const std::string& specJson) {
  const auto spec = nlohmann::json::parse(specJson.empty() ? "{}" : specJson, nullptr, false);
  if (!spec.is_object()) return "unknown (the run's spec is not readable)";
  const std::string dtype = spec.value("dtype", std::string());
  const std::string amp = spec.value("amp", std::string());
  const std::string device = spec.value("device", std::string("cpu"));
  if (!amp.empty()) return "float32 master weights, " + amp + " autocast on " + device;
  return (dtype.empty() ? std::string("as saved") : dtype) + " on " + device;
}

struct Summary {
  PeakBreakdown atPeak;
  ByteRows topModules;  // exclusive activation bytes
  ByteRows topHolders;  // "GeluBackward0 (aten::gelu in encoder.mlp)"
};

Summary summarise(const SessionRun& run) {
  Summary s;
  const auto& p = run.profile;
  const auto& t = run.trace;
  s.atPeak = peakBreakdown(t, p);
  sortRows(s.atPeak.byModule, 10);
  sortRows(s.atPeak.byOp, 10);
  for (const auto& [module, a] : p.moduleActivations) {
    if (a.exclusive > 0) s.topModules.emplace_back(module.empty() ? "(root)" : module, a.exclusive);
  }
  std::map<std::string, int64_t> holders;
  for (const auto& st : p.storages) {
    if (st.category != Category::kActivation || !st.aliveAt(p.backwardStartSeq)) continue;
    std::string key = st.holderOp >= 0 ? t.opName(st.holderOp) : "(not released)";
    if (st.holderForwardOp >= 0) {
      const auto& f = t.ops[static_cast<size_t>(st.holderForwardOp)];
      key += " (" + t.str(f.name) + (f.module ? " in " + t.str(f.module) : std::string()) + ")";
    }
    holders[key] += st.bytes;
  }
  s.topHolders.assign(holders.begin(), holders.end());
  sortRows(s.topModules, 10);
  sortRows(s.topHolders, 10);
  return s;
}

int64_t activationsAtPeak(const PeakBreakdown& b) {
  for (const auto& [category, bytes] : b.byCategory) {
    if (category == categoryName(Category::kActivation)) return bytes;
  }
  return 0;
}

void table(std::ostream& out, ReportFormat f, const std::string& title, const std::string& column,
           const ByteRows& rows) {
  if (f == ReportFormat::kMarkdown) {
    out << "\n### " << title << "\n\n| " << column << " | bytes |\n|---|---|\n";
    for (const auto& [k, v] : rows)
      out << "| " << k << " | " << formatBytes(v) << " |\n";
    return;
  }
  out << "\n" << title << "\n";
  size_t w = column.size();
  for (const auto& r : rows)
    w = std::max(w, r.first.size());
  for (const auto& [k, v] : rows)
    out << "  " << std::left << std::setw(static_cast<int>(w)) << k << std::right << std::setw(13)
        << formatBytes(v) << "\n";
}

nlohmann::json peakMomentJson(const PeakMoment& m) {
  return {{"phase", phaseName(m.phase)},
          {"op", m.op},
          {"module", m.module},
          {"backward_node", m.backwardNode},
          {"seconds_into_step", m.secondsIntoStep}};
}

}  // namespace

void writeRunReport(const SessionRun& run, ReportFormat f, std::ostream& out) {
  const auto s = summarise(run);
  const auto& i = run.info;
  const bool md = f == ReportFormat::kMarkdown;
  if (md)
    out << "## Run `" << printable(i.label) << "`\n\n";
  else
    out << "run         " << printable(i.label) << "\n";
  auto line = [&](const std::string& k, const std::string& v) {
    if (md)
      out << "- **" << k << "**: " << v << "\n";
    else
      out << std::left << std::setw(12) << k << v << "\n";
  };
  line("model", printable(i.modelPath));
  line("backend", i.backend + ", " + std::to_string(i.threads) + " threads, " + i.executorMode);
  line("precision", precisionText(i.specJson));
  line("gpu trace",
       run.trace.deviceTracing + (run.trace.device.empty()
                                      ? std::string()
                                      : ", " + std::to_string(run.trace.device.size()) + " records, " +
                                            std::to_string(run.trace.droppedDeviceRecords) + " dropped"));
  line("peak",
       formatBytes(run.profile.peak().total) + " (" + formatCount(run.profile.peak().total) + " bytes)");
  line("peak at", peakMomentText(peakMoment(run.trace, run.profile)));
  line("resident", formatBytes(run.profile.baselineBytes) +
                       " alive before the step starts (parameters, buffers, optimizer state, inputs)");
  line("activations", formatBytes(run.profile.activationBytes) +
                          " saved for backward, all alive when backward starts (at the peak: " +
                          formatBytes(activationsAtPeak(s.atPeak)) + ")");
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.3f s", i.stepSeconds);
  line("step time", std::string(secs) + " (traced)");
  table(out, f, "at the peak, by category", "category", s.atPeak.byCategory);
  table(out, f, "at the peak, by module (top 10)", "module", s.atPeak.byModule);
  table(out, f, "at the peak, by allocating op (top 10)", "op", s.atPeak.byOp);
  table(out, f, "activation bytes by module (top 10)", "module", s.topModules);
  table(out, f, "activation holders (top 10)", "backward node (forward op)", s.topHolders);
}

nlohmann::json runReportJson(const SessionRun& run) {
  const auto s = summarise(run);
  auto pairs = [](const ByteRows& v) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& [k, b] : v)
      a.push_back({{"name", k}, {"bytes", b}});
    return a;
  };
  return {{"label", run.info.label},
          {"model", run.info.modelPath},
          {"backend", run.info.backend},
          {"threads", run.info.threads},
          {"executor_mode", run.info.executorMode},
          {"device_tracing", run.trace.deviceTracing},
          {"device_records", run.trace.device.size()},
          {"dropped_device_records", run.trace.droppedDeviceRecords},
          {"spec", nlohmann::json::parse(run.info.specJson.empty() ? "{}" : run.info.specJson)},
          {"precision", precisionText(run.info.specJson)},
          {"peak_bytes", run.profile.peak().total},
          {"peak_at", peakMomentJson(peakMoment(run.trace, run.profile))},
          {"baseline_bytes", run.profile.baselineBytes},
          {"activation_bytes", run.profile.activationBytes},
          {"activation_bytes_at_peak", activationsAtPeak(s.atPeak)},
          {"step_seconds", run.info.stepSeconds},
          {"events", run.info.events},
          {"categories_at_peak", pairs(s.atPeak.byCategory)},
          {"modules_at_peak", pairs(s.atPeak.byModule)},
          {"ops_at_peak", pairs(s.atPeak.byOp)},
          {"top_modules", pairs(s.topModules)},
          {"top_holders", pairs(s.topHolders)}};
}

}  // namespace lowmem
