#include "core/info_report.h"

#include <algorithm>
#include <iomanip>
#include <map>

#include "core/format.h"
#include "core/module_path.h"

namespace lowmem {
namespace {

nlohmann::json countsJson(const ParameterCounts& c) {
  return {{"params", c.params},
          {"bytes", c.bytes},
          {"trainable_params", c.trainableParams},
          {"trainable_bytes", c.trainableBytes}};
}

std::string displayPath(const std::string& path) {
  return path.empty() ? "(root)" : path;
}

void writeModuleTree(const ModelSummary& s, const InfoReportOptions& options, std::ostream& out) {
  size_t nameWidth = 6;
  size_t typeWidth = 4;
  for (const auto& m : s.modules) {
    if (options.maxDepth >= 0 && m.depth > options.maxDepth) continue;
    const auto leaf = splitLastComponent(m.path).second;
    nameWidth = std::max(nameWidth, 2 * static_cast<size_t>(m.depth) + displayPath(leaf).size());
    typeWidth = std::max(typeWidth, m.type.size());
  }
  out << "module tree (parameters include submodules)\n";
  out << "  " << std::left << std::setw(static_cast<int>(nameWidth)) << "module"
      << "  " << std::setw(static_cast<int>(typeWidth)) << "type" << std::right << std::setw(14) << "params"
      << std::setw(13) << "bytes" << std::setw(14) << "trainable"
      << "\n";
  for (const auto& m : s.modules) {
    if (options.maxDepth >= 0 && m.depth > options.maxDepth) continue;
    const auto leaf = splitLastComponent(m.path).second;
    const std::string name = std::string(2 * m.depth, ' ') + displayPath(leaf);
    out << "  " << std::left << std::setw(static_cast<int>(nameWidth)) << name << "  "
        << std::setw(static_cast<int>(typeWidth)) << m.type << std::right << std::setw(14)
        << formatCount(m.total.params) << std::setw(13) << formatBytes(m.total.bytes) << std::setw(14)
        << formatCount(m.total.trainableParams) << "\n";
  }
}

void writeSites(const ModelSummary& s, std::ostream& out) {
  out << "swap candidates\n";
  for (const auto& [kind, count] : s.siteCounts()) {
    out << "  " << std::left << std::setw(12) << siteKindName(kind) << std::right << std::setw(5) << count;
    if (kind == SiteKind::kGeluTanh && count > 0) out << "  (tanh approximation: no exact 2-bit swap)";
    out << "\n";
  }
  if (s.sites.empty()) return;
  size_t pathWidth = 6;
  for (const auto& site : s.sites)
    pathWidth = std::max(pathWidth, displayPath(site.modulePath).size());
  out << "sites (forward order)\n";
  for (const auto& site : s.sites) {
    out << "  " << std::setw(4) << site.ordinal << "  " << std::left << std::setw(11)
        << siteKindName(site.kind) << std::setw(static_cast<int>(pathWidth) + 2)
        << displayPath(site.modulePath) << std::setw(16) << site.moduleType << site.form << std::right
        << "\n";
  }
}

}  // namespace

void writeInfoText(const ModelSummary& s, const InfoReportOptions& options, std::ostream& out) {
  const auto& total = s.root().total;
  out << "model       " << s.file << "\n";
  out << "type        " << s.root().type << "\n";
  out << "forward     " << s.forwardSignature << "\n";
  if (!s.inputHint.empty()) out << "inputs      " << s.inputHint << " (recorded by the model's builder)\n";
  out << "parameters  " << formatCount(total.params) << " (" << formatBytes(total.bytes) << ")\n";
  out << "trainable   " << formatCount(total.trainableParams) << " (" << formatBytes(total.trainableBytes)
      << ") under --trainable " << s.trainable << "\n";
  if (!s.appliedRewrites.empty()) {
    out << "rewrites    ";
    for (size_t i = 0; i < s.appliedRewrites.size(); ++i)
      out << (i ? ", " : "") << s.appliedRewrites[i];
    out << "\n";
  }
  if (!s.baseModel.empty()) out << "patched from " << s.baseModel << "\n";
  out << "\n";
  writeModuleTree(s, options, out);
  out << "\n";
  writeSites(s, out);
}

nlohmann::json infoJson(const ModelSummary& s) {
  nlohmann::json modules = nlohmann::json::array();
  for (const auto& m : s.modules) {
    modules.push_back({{"path", m.path},
                       {"type", m.type},
                       {"depth", m.depth},
                       {"own", countsJson(m.own)},
                       {"total", countsJson(m.total)},
                       {"buffer_bytes", m.bufferBytes}});
  }
  nlohmann::json sites = nlohmann::json::array();
  for (const auto& site : s.sites) {
    sites.push_back({{"ordinal", site.ordinal},
                     {"kind", siteKindName(site.kind)},
                     {"op", site.op},
                     {"form", site.form},
                     {"module", site.modulePath},
                     {"module_type", site.moduleType}});
  }
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [kind, count] : s.siteCounts())
    counts[siteKindName(kind)] = count;
  return {{"file", s.file},
          {"type", s.root().type},
          {"forward", s.forwardSignature},
          {"input_hint", s.inputHint},
          {"trainable_selection", s.trainable},
          {"applied_rewrites", s.appliedRewrites},
          {"base_model", s.baseModel},
          {"parameters", countsJson(s.root().total)},
          {"modules", modules},
          {"site_counts", counts},
          {"sites", sites}};
}

}  // namespace lowmem
