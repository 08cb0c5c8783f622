#include "patcher/site_plans.h"

#include <torch/csrc/jit/ir/ir.h>

#include <deque>
#include <optional>
#include <tuple>

#include "patcher/inlined_graph.h"
#include "patcher/module_paths.h"
#include "patcher/site_finder.h"

namespace lowmem {
namespace {

using torch::jit::Node;
using torch::jit::Value;

// "encoder.layer_0.attn.q.weight" for a chain of prim::GetAttr from forward's self; nullopt otherwise.
std::optional<std::string> attributePath(const Value* v, const Value* self) {
  std::deque<std::string> names;
  while (v->node()->kind() == c10::prim::GetAttr) {
    names.push_front(v->node()->s(c10::attr::name));
    v = v->node()->input(0);
  }
  if (v != self || names.empty()) return std::nullopt;
  std::string path;
  for (const auto& n : names)
    path += (path.empty() ? "" : ".") + n;
  return path;
}

// A constant, a module attribute, or a list/tuple of those.
std::optional<c10::IValue> valueOf(const Value* v, const Value* self, const torch::jit::Module& root) {
  if (auto c = torch::jit::toIValue(v)) return *c;
  if (auto path = attributePath(v, self)) return attributeAt(root, *path);
  const Node* n = v->node();
  if (n->kind() == c10::prim::ListConstruct || n->kind() == c10::prim::TupleConstruct) {
    std::vector<int64_t> ints;
    for (const Value* item : n->inputs()) {
      auto iv = valueOf(item, self, root);
      if (!iv || !iv->isInt()) return std::nullopt;
      ints.push_back(iv->toInt());
    }
    return c10::IValue(ints);
  }
  return std::nullopt;
}

std::optional<int64_t> productOfInts(const c10::IValue& v) {
  std::vector<int64_t> dims;
  if (v.isIntList()) {
    dims = v.toIntVector();
  } else if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) {
      if (!e.isInt()) return std::nullopt;
      dims.push_back(e.toInt());
    }
  } else if (v.isInt()) {
    dims = {v.toInt()};
  } else {
    return std::nullopt;
  }
  int64_t n = 1;
  for (auto d : dims)
    n *= d;
  return n;
}

bool isView(const Node* n) {
  static const std::set<c10::Symbol> kViews = {c10::aten::view,      c10::aten::reshape,   c10::aten::select,
                                               c10::aten::slice,     c10::aten::transpose, c10::aten::permute,
                                               c10::aten::unsqueeze, c10::aten::squeeze,   c10::aten::flatten,
                                               c10::aten::t,         c10::aten::unflatten, c10::aten::narrow,
                                               c10::aten::expand};
  return kViews.count(n->kind()) > 0;
}

std::string where(const Node* n, const std::string& rootType) {
  const auto m = nodeModule(n, rootType);
  return m.path.empty() ? "the root module" : m.path;
}

// Follows the norm's output through views to its consumers; an empty string when all take the fold or are
// residual adds in `parentPath`'s own code (which take the re-applied affine), else why not.
std::string collectFolds(const Value* out, const Value* self, const std::string& rootType,
                         const std::set<std::string>& trainable, const std::string& parentPath, bool viaView,
                         SitePlan& plan) {
  for (const auto& use : out->uses()) {
    const Node* u = use.user;
    if (u->kind() == c10::prim::Return) return "the norm's output is returned by the model";
    // Shape queries read no data.
    if (u->kind() == c10::aten::size || u->kind() == c10::aten::dim || u->kind() == c10::prim::dtype ||
        u->kind() == c10::prim::device)
      continue;
    if (isView(u) && use.offset == 0) {
      auto why = collectFolds(u->output(), self, rootType, trainable, parentPath, true, plan);
      if (!why.empty()) return why;
      continue;
    }
    if (u->kind() == c10::aten::linear && use.offset == 0) {
      auto weight = attributePath(u->input(1), self);
      if (!weight) return "it feeds a linear in " + where(u, rootType) + " whose weight is not a parameter";
      FoldTarget f;
      f.weight = *weight;
      if (u->inputs().size() > 2 && !u->input(2)->mustBeNone()) {
        auto bias = attributePath(u->input(2), self);
        if (!bias) return "it feeds a linear in " + where(u, rootType) + " whose bias is not a parameter";
        f.bias = *bias;
      }
      f.lora = f.weight.size() >= 6 && f.weight.compare(f.weight.size() - 6, 6, "lora_A") == 0;
      f.trainable = trainable.count(f.weight) > 0;
      plan.folds.push_back(f);
      continue;
    }
    if ((u->kind() == c10::aten::add || u->kind() == c10::aten::sub) && use.offset < 2) {
      const auto in = where(u, rootType);
      if (!viaView && nodeModule(u, rootType).path == parentPath) {
        ++plan.residualUses;
        continue;
      }
      return "it feeds a residual " + std::string(u->kind().toQualString()) + " in " + in +
             (viaView ? " through a view" : "") +
             " (post-LN); lowmem re-applies the affine only on a direct " +
             "residual in the code that calls the norm (" + (parentPath.empty() ? "the root" : parentPath) +
             ")";
    }
    return "it feeds " + std::string(u->kind().toQualString()) + " in " + where(u, rootType) +
           ", not a linear with a parameter weight that could take the affine";
  }
  return {};
}

// True when the module at `path` does nothing but the norm: its forward's input goes in, the norm's output
// comes back. Only such modules are rewritten (at their call sites).
bool isNormModule(const torch::jit::Module& root, const std::string& path, SiteKind kind) {
  if (path.empty()) return false;
  auto v = attributeAt(root, path);
  if (!v || !v->isObject()) return false;
  torch::jit::Module m(v->toObject());
  auto graph = inlinedForwardGraph(m);
  if (graph->inputs().size() != 2 || graph->outputs().size() != 1) return false;
  auto sites = findSwapSitesIn(*graph, rootTypeName(m));
  if (sites.size() != 1 || sites[0].site.kind != kind) return false;
  const Node* a = sites[0].anchor;
  if (a->kind() == c10::aten::rsqrt) {
    auto chain = matchRmsChain(a);
    return chain && chain->input == graph->inputs()[1] && chain->output == graph->outputs()[0];
  }
  return a->input(0) == graph->inputs()[1] && a->output() == graph->outputs()[0];
}

std::string typeAt(const torch::jit::Module& root, const std::string& path) {
  if (path.empty()) return rootTypeName(root);
  auto v = attributeAt(root, path);
  if (!v || !v->isObject()) return "?";
  return rootTypeName(torch::jit::Module(v->toObject()));
}

void planNorm(const torch::jit::Module& root, const FoundSite& found, const Value* self,
              const std::string& rootType, const std::set<std::string>& trainable, SitePlan& plan) {
  const Node* a = found.anchor;
  const Value* out = nullptr;
  if (found.site.kind == SiteKind::kLayerNorm) {
    auto shape = valueOf(a->input(1), self, root);
    auto eps = valueOf(a->input(4), self, root);
    if (!shape || !productOfInts(*shape) || !eps || !eps->isDouble()) {
      plan.reason = "its normalized_shape or eps is not a constant or module attribute";
      return;
    }
    plan.normalizedSize = *productOfInts(*shape);
    plan.eps = eps->toDouble();
    if (!a->input(2)->mustBeNone()) plan.gamma = attributePath(a->input(2), self).value_or("?");
    if (!a->input(3)->mustBeNone()) plan.beta = attributePath(a->input(3), self).value_or("?");
    out = a->output();
  } else if (a->kind() == c10::aten::rsqrt) {
    auto chain = matchRmsChain(a);
    if (!chain->eps) {
      plan.reason = "its eps is not a constant";
      return;
    }
    plan.eps = *chain->eps;
    if (chain->weight) plan.gamma = attributePath(chain->weight, self).value_or("?");
    out = chain->output;
  } else {  // aten::rms_norm(x, shape, weight, eps)
    auto shape = valueOf(a->input(1), self, root);
    auto eps = a->inputs().size() > 3 ? valueOf(a->input(3), self, root) : std::nullopt;
    if (!shape || !productOfInts(*shape) || !eps || !eps->isDouble()) {
      plan.reason = "its normalized_shape or eps is not a constant (eps=None uses the dtype's epsilon)";
      return;
    }
    plan.normalizedSize = *productOfInts(*shape);
    plan.eps = eps->toDouble();
    if (!a->input(2)->mustBeNone()) plan.gamma = attributePath(a->input(2), self).value_or("?");
    out = a->output();
  }
  if (plan.gamma == "?" || plan.beta == "?") {
    plan.reason = "its affine is not a module parameter";
    return;
  }
  if (!plan.gamma.empty()) {
    auto g = attributeAt(root, plan.gamma);
    if (!g || !g->isTensor()) {
      plan.reason = "its weight is not a tensor";
      return;
    }
    if (plan.normalizedSize == 0) plan.normalizedSize = g->toTensor().numel();
  }
  if (plan.normalizedSize == 0) {
    plan.reason = "an RMSNorm chain without a weight has no known normalized size";
    return;
  }
  if (!isNormModule(root, found.site.modulePath, found.site.kind)) {
    plan.reason = found.site.modulePath.empty()
                      ? "the norm is written in the root module's own code; only norm modules are rewritten"
                      : "module " + found.site.modulePath +
                            " does more than the norm; only modules that are just a norm are rewritten";
    return;
  }
  std::tie(plan.parentPath, plan.attribute) = splitLastComponent(found.site.modulePath);
  plan.unit = "call " + typeAt(root, plan.parentPath) + "." + plan.attribute;
  if (auto why = collectFolds(out, self, rootType, trainable, plan.parentPath, false, plan); !why.empty()) {
    plan.reason = why;
    plan.folds.clear();
    plan.residualUses = 0;
    return;
  }
  for (const auto* affine : {&plan.gamma, &plan.beta}) {
    if (plan.residualUses > 0 && !affine->empty() &&
        splitLastComponent(*affine).first != found.site.modulePath) {
      plan.reason = "its affine " + *affine +
                    " is not the norm module's own parameter, so it cannot be "
                    "re-applied on the residual path";
      plan.folds.clear();
      plan.residualUses = 0;
      return;
    }
  }
  if (plan.folds.empty() && plan.residualUses == 0) {
    plan.reason = "its output is not used";
    return;
  }
  for (const auto& f : plan.folds) {
    if (!plan.beta.empty() && !f.lora && f.bias.empty()) {
      plan.reason = "consumer " + f.weight + " has no bias to take the norm's beta";
      plan.folds.clear();
      return;
    }
  }
  plan.valid = true;
  const std::string residual =
      plan.residualUses == 0 ? ""
      : plan.gamma.empty() && plan.beta.empty()
          ? "; its residual add takes the output as it is (no affine)"
          : "; the affine is re-applied for its residual add in " +
                (plan.parentPath.empty() ? std::string("the root") : plan.parentPath) + " (post-LN)";
  for (const auto& f : plan.folds) {
    if (f.trainable) {
      plan.sharing = true;
      plan.reason = "shares its saved output with " + f.weight + " (trainable, saves its input)" + residual;
      break;
    }
  }
  if (!plan.sharing)
    plan.reason = "no consumer saves its output (every consuming weight is frozen)" + residual;
}

}  // namespace

std::set<std::string> trainableParameters(const torch::jit::Module& module,
                                          const TrainableSelection& selection) {
  std::set<std::string> names;
  for (const auto& p : module.named_parameters()) {
    if (selection.trains(p.name, p.value.requires_grad())) names.insert(p.name);
  }
  return names;
}

std::vector<SitePlan> planSites(const torch::jit::Module& module, const std::set<std::string>& trainable) {
  auto graph = inlinedForwardGraph(module);
  const auto rootType = rootTypeName(module);
  const Value* self = graph->inputs()[0];
  std::vector<SitePlan> plans;
  for (const auto& found : findSwapSitesIn(*graph, rootType)) {
    SitePlan plan;
    plan.site = found.site;
    switch (found.site.kind) {
      case SiteKind::kGelu:
        plan.valid = true;
        break;
      case SiteKind::kGeluTanh:
        plan.reason =
            "GELU with approximate='tanh' is a different function; ReGELU2's forward is exact erf GELU";
        break;
      case SiteKind::kSilu:
        plan.valid = found.site.form != "in-place";
        if (!plan.valid) plan.reason = "in-place SiLU (silu_) overwrites its input; only silu() is rewritten";
        break;
      case SiteKind::kLayerNorm:
      case SiteKind::kRmsNorm:
        planNorm(module, found, self, rootType, trainable, plan);
        break;
    }
    if (plan.unit.empty()) plan.unit = "type " + found.site.moduleType;
    plans.push_back(std::move(plan));
  }
  return plans;
}

}  // namespace lowmem
