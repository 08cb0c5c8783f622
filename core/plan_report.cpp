#include "core/plan_report.h"

#include <cstdio>
#include <iomanip>

#include "core/error.h"
#include "core/format.h"
#include "core/suggestion_report.h"

namespace lowmem {
namespace {

nlohmann::json sizeJson(const StepSize& s) {
  nlohmann::json j = nlohmann::json::object();
  if (s.batch > 0) j["batch"] = s.batch;
  if (s.seq > 0) j["seq"] = s.seq;
  return j;
}

std::string joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts)
    out += (out.empty() ? "" : ", ") + p;
  return out;
}

}  // namespace

nlohmann::json planJson(const Plan& plan) {
  nlohmann::json traced = nlohmann::json::array();
  for (const auto& t : plan.traced) {
    traced.push_back(
        {{"size", sizeJson(t.size)}, {"measured_peak", t.measuredPeak}, {"fitted_peak", t.fittedPeak}});
  }
  const auto pointsJson = [](const std::vector<PlanPoint>& list) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : list) {
      out.push_back({{"size", sizeJson(p.size)},
                     {"baseline_peak", p.baselinePeak},
                     {"patched_peak", p.patchedPeak},
                     {"resident_bytes", p.residentBytes},
                     {"peak_at", p.peakAt}});
    }
    return out;
  };
  const nlohmann::json points = pointsJson(plan.points), curve = pointsJson(plan.curve);
  nlohmann::json j = {{"model", plan.modelPath},
                      {"curve", curve},
                      {"terms", plan.terms},
                      {"worst_residual_bytes", plan.worstResidualBytes},
                      {"traced", traced},
                      {"points", points},
                      {"chosen_sites", plan.chosenSites},
                      {"shard", plan.shard},
                      {"assumptions", plan.assumptions}};
  if (plan.budgetBytes > 0) {
    nlohmann::json capacity = nlohmann::json::array();
    for (const auto& c : plan.capacity) {
      capacity.push_back({{"along", c.alongSeq ? "seq" : "batch"},
                          {c.alongSeq ? "batch" : "seq", c.at},
                          {"baseline", c.baseline},
                          {"patched", c.patched}});
    }
    j["budget_bytes"] = plan.budgetBytes;
    j["capacity"] = capacity;
  }
  return j;
}

Plan planFromJson(const nlohmann::json& j, const std::string& path) {
  try {
    const auto size = [](const nlohmann::json& s) {
      return StepSize{s.value("batch", int64_t{0}), s.value("seq", int64_t{0})};
    };
    Plan plan;
    plan.modelPath = j.at("model").get<std::string>();
    plan.terms = j.at("terms").get<std::vector<std::string>>();
    plan.worstResidualBytes = j.at("worst_residual_bytes").get<int64_t>();
    for (const auto& t : j.at("traced"))
      plan.traced.push_back(
          {size(t.at("size")), t.at("measured_peak").get<int64_t>(), t.at("fitted_peak").get<int64_t>()});
    const auto point = [&](const nlohmann::json& p) {
      return PlanPoint{size(p.at("size")), p.at("baseline_peak").get<int64_t>(),
                       p.at("patched_peak").get<int64_t>(), p.at("resident_bytes").get<int64_t>(),
                       p.at("peak_at").get<std::string>()};
    };
    for (const auto& p : j.at("points"))
      plan.points.push_back(point(p));
    for (const auto& p : j.value("curve", nlohmann::json::array()))
      plan.curve.push_back(point(p));
    plan.chosenSites = j.at("chosen_sites").get<int>();
    plan.shard = j.at("shard").get<int>();
    plan.assumptions = j.at("assumptions").get<std::vector<std::string>>();
    plan.budgetBytes = j.value("budget_bytes", int64_t{0});
    for (const auto& c : j.value("capacity", nlohmann::json::array())) {
      const bool alongSeq = c.at("along").get<std::string>() == "seq";
      plan.capacity.push_back({alongSeq, c.at(alongSeq ? "batch" : "seq").get<int64_t>(),
                               c.at("baseline").get<int64_t>(), c.at("patched").get<int64_t>()});
    }
    return plan;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path, std::string("corrupt session: a plan record (") + e.what() + ")");
  }
}

void writePlanText(const Plan& plan, std::ostream& out) {
  std::vector<std::string> sizes, measured;
  for (const auto& t : plan.traced) {
    sizes.push_back(stepSizeText(t.size));
    measured.push_back(formatBytes(t.measuredPeak) +
                       (t.fittedPeak == t.measuredPeak ? "" : " (fit " + formatBytes(t.fittedPeak) + ")"));
  }
  out << "model       " << plan.modelPath << "\n";
  out << "traced      " << joined(sizes) << ": peaks " << joined(measured) << "\n";
  out << "fit         every allocation's bytes as " << joined(plan.terms) << " (b batch, s sequence); "
      << (plan.worstResidualBytes == 0
              ? std::string("exact at every traced size")
              : "largest miss at a traced size " + formatBytes(plan.worstResidualBytes))
      << "\n";
  for (const auto& a : plan.assumptions)
    out << "assumes     " << a << "\n";
  out << "\n";
  size_t w = 4;
  for (const auto& p : plan.points)
    w = std::max(w, stepSizeText(p.size).size());
  const std::string swaps = "with " + std::to_string(plan.chosenSites) + " swaps";
  out << std::left << std::setw(static_cast<int>(w)) << "size"
      << "  " << std::setw(12) << "resident" << std::setw(12) << "peak" << std::setw(20) << swaps
      << "peak at\n";
  for (const auto& p : plan.points) {
    out << std::left << std::setw(static_cast<int>(w)) << stepSizeText(p.size) << "  " << std::setw(12)
        << formatBytes(p.residentBytes) << std::setw(12) << formatBytes(p.baselinePeak) << std::setw(20)
        << (formatBytes(p.patchedPeak) + " (" + percentChange(p.baselinePeak, p.patchedPeak) + ")")
        << p.peakAt << "\n";
  }
  if (plan.budgetBytes <= 0) return;
  out << "\nbudget      " << formatBytes(plan.budgetBytes) << (plan.shard > 1 ? " per rank" : "") << "\n";
  for (const auto& c : plan.capacity) {
    out << "largest     " << (c.alongSeq ? "seq" : "batch");
    if (c.at > 0) out << (c.alongSeq ? " at batch " : " at seq ") << c.at;
    out << ": ";
    if (c.baseline == 0 && c.patched == 0) {
      out << "none fits, even with the swaps\n";
      continue;
    }
    const auto size = [](int64_t v) {
      return v >= kPlanSearchLimit ? "no limit up to " + std::to_string(kPlanSearchLimit) : std::to_string(v);
    };
    out << size(c.baseline) << " as it is, " << size(c.patched) << " " << swaps;
    if (c.patched >= kPlanSearchLimit) out << " (the peak barely grows with the size)";
    if (c.baseline > 0 && c.patched > c.baseline) {
      char ratio[32];
      std::snprintf(ratio, sizeof ratio, " (%.2fx)",
                    static_cast<double>(c.patched) / static_cast<double>(c.baseline));
      out << ratio;
    }
    out << "\n";
  }
}

}  // namespace lowmem
