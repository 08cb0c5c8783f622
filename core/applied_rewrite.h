#pragma once
// What the patcher did at one site, as a record: the replacement op, where, and the site's ordinal. Models
// keep these (their `lowmem_rewrites` attribute), sessions and reports show them, and the patcher refuses to
// patch a site twice by them. One table names each kind's replacement op.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/swap_site.h"

namespace lowmem {

// The replacement op of a swappable kind, as registered ("lowmem::regelu2"): the 2-bit activations and the
// norms have ops of their own; 3 and 4-bit activations share one op that takes the bits ("lowmem::regelu").
// Empty for a kind without one (GELU tanh).
std::string replacementOp(SiteKind kind, int bits = 2);

struct AppliedRewrite {
  SiteKind kind = SiteKind::kGelu;
  int bits = 2;            // activation codes' bits per element; 2 for the norms
  std::string modulePath;  // the site's module, "" for the root
  int ordinal = 0;         // the site's position in the model it was found in

  // "regelu2", "resilu3", "ms_layer_norm": the op the record names.
  std::string opName() const;
  // "regelu2 encoder.layer_0.mlp #3" ("(root)" for the root module): the stored form.
  std::string text() const;
  // The same site, whatever the bits: a model is never patched twice there.
  bool sameSite(const AppliedRewrite& other) const;

  bool operator==(const AppliedRewrite& o) const {
    return kind == o.kind && bits == o.bits && modulePath == o.modulePath && ordinal == o.ordinal;
  }

  // The record `text` writes; nullopt for any other text (a model written by something else).
  static std::optional<AppliedRewrite> parse(const std::string& text);
};

// As its text in JSON (sessions, reports); reading a text that is no record is a json type_error.
void to_json(nlohmann::json& j, const AppliedRewrite& r);
void from_json(const nlohmann::json& j, AppliedRewrite& r);

}  // namespace lowmem
