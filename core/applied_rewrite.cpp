#include "core/applied_rewrite.h"

#include <regex>

namespace lowmem {
namespace {

// Each swappable kind's op family: activations add their bits ("regelu2"), norms are one op each.
struct OpFamily {
  SiteKind kind;
  const char* name;
  bool takesBits;
};

constexpr OpFamily kFamilies[] = {{SiteKind::kGelu, "regelu", true},
                                  {SiteKind::kSilu, "resilu", true},
                                  {SiteKind::kLayerNorm, "ms_layer_norm", false},
                                  {SiteKind::kRmsNorm, "ms_rms_norm", false},
                                  {SiteKind::kAttention, "attention", false}};

const OpFamily* familyOf(SiteKind kind) {
  for (const auto& f : kFamilies) {
    if (f.kind == kind) return &f;
  }
  return nullptr;
}

}  // namespace

std::string replacementOp(SiteKind kind, int bits) {
  const auto* f = familyOf(kind);
  if (!f) return {};
  return std::string("lowmem::") + f->name + (f->takesBits && bits == 2 ? "2" : "");
}

std::string AppliedRewrite::opName() const {
  const auto* f = familyOf(kind);
  if (!f) return siteKindName(kind);
  return std::string(f->name) + (f->takesBits ? std::to_string(bits) : "");
}

std::string AppliedRewrite::text() const {
  return opName() + " " + (modulePath.empty() ? "(root)" : modulePath) + " #" + std::to_string(ordinal);
}

bool AppliedRewrite::sameSite(const AppliedRewrite& other) const {
  return kind == other.kind && modulePath == other.modulePath;
}

std::optional<AppliedRewrite> AppliedRewrite::parse(const std::string& text) {
  static const std::regex re(R"(^([a-z_]+?)([234]?) (\S+)(?: #([0-9]{1,9}))?$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) return std::nullopt;
  for (const auto& f : kFamilies) {
    if (m[1] != f.name || f.takesBits == (m[2].length() == 0)) continue;
    AppliedRewrite r;
    r.kind = f.kind;
    r.bits = f.takesBits ? std::stoi(m[2]) : 2;
    r.modulePath = m[3] == "(root)" ? "" : std::string(m[3]);
    r.ordinal = m[4].matched ? std::stoi(m[4]) : 0;
    return r;
  }
  return std::nullopt;
}

void to_json(nlohmann::json& j, const AppliedRewrite& r) {
  j = r.text();
}

void from_json(const nlohmann::json& j, AppliedRewrite& r) {
  const auto parsed = AppliedRewrite::parse(j.get<std::string>());
  if (!parsed) throw nlohmann::json::type_error::create(302, "not a rewrite record: " + j.dump(), &j);
  r = *parsed;
}

}  // namespace lowmem
