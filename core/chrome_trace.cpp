#include "core/chrome_trace.h"

#include <string>

namespace lowmem {

nlohmann::json chromeTrace(const SessionRun& run) {
  const auto& t = run.trace;
  const auto& p = run.profile;
  nlohmann::json events = nlohmann::json::array();
  events.push_back(
      {{"ph", "M"}, {"name", "process_name"}, {"pid", 1}, {"args", {{"name", "lowmem " + run.info.label}}}});
  for (const auto& op : t.ops) {
    if (op.endSeq < 0) continue;
    nlohmann::json args = {{"phase", phaseName(op.phase)}, {"scope", opScopeName(op.scope)}};
    const std::string& type = t.moduleType(t.str(op.module));
    if (op.module) args["module"] = t.str(op.module);
    if (!type.empty()) args["module_type"] = type;
    if (op.seqNr >= 0) args["seq_nr"] = op.seqNr;
    // A module's method span reads "encoder.layer_0.mlp (MLP.forward)", not one "forward" among hundreds.
    std::string name = t.str(op.name);
    if (op.scope == OpScope::kTorchScript) {
      const std::string path = op.module ? t.str(op.module) : std::string("(root)");
      name = type.empty() ? path + "." + name : path + " (" + type + "." + name + ")";
    }
    // Forward and backward run on the caller's thread here; one track keeps nesting intact.
    events.push_back({{"ph", "X"},
                      {"name", name},
                      {"cat", opScopeName(op.scope)},
                      {"pid", 1},
                      {"tid", 1},
                      {"ts", static_cast<double>(op.beginNs) / 1000.0},
                      {"dur", static_cast<double>(op.endNs - op.beginNs) / 1000.0},
                      {"args", args}});
  }
  for (const auto& m : t.phases) {
    events.push_back({{"ph", "i"},
                      {"name", phaseName(m.phase)},
                      {"s", "p"},
                      {"pid", 1},
                      {"tid", 1},
                      {"ts", static_cast<double>(m.timeNs) / 1000.0}});
  }
  for (const auto& point : p.timeline) {
    nlohmann::json args;
    for (int c = 0; c < kCategoryCount; ++c) {
      args[categoryName(static_cast<Category>(c))] = point.byCategory[static_cast<size_t>(c)];
    }
    const double ts = static_cast<double>(point.timeNs) / 1000.0;
    events.push_back(
        {{"ph", "C"}, {"name", "memory by category (bytes)"}, {"pid", 1}, {"ts", ts}, {"args", args}});
    events.push_back({{"ph", "C"},
                      {"name", "memory total (bytes)"},
                      {"pid", 1},
                      {"ts", ts},
                      {"args", {{"total", point.total}}}});
  }
  return {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
}

}  // namespace lowmem
