#include "patcher/site_plans.h"

#include <torch/csrc/jit/ir/ir.h>

#include <optional>
#include <tuple>

#include "patcher/attention_plan.h"
#include "patcher/inlined_graph.h"
#include "patcher/module_paths.h"
#include "patcher/site_finder.h"

namespace lowmem {
namespace {

using torch::jit::Node;
using torch::jit::Value;

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

// Uses that read a tensor's metadata or identity, never its data.
bool readsNoData(const Node* n) {
  static const std::set<c10::Symbol> kMeta = {c10::aten::size,
                                              c10::aten::dim,
                                              c10::prim::dtype,
                                              c10::prim::device,
                                              c10::prim::is_cuda,
                                              c10::prim::requires_grad,
                                              c10::prim::layout,
                                              c10::aten::__is__,
                                              c10::aten::__isnot__,
                                              c10::aten::is_floating_point,
                                              c10::Symbol::fromQualString("prim::is_nested"),
                                              c10::Symbol::fromQualString("aten::numel")};
  return kMeta.count(n->kind()) > 0;
}

// Walks a norm's output to the consumers that can take its folded affine.
struct FoldWalk {
  const Value* self;
  const torch::jit::Module& root;
  const std::string& rootType;
  const std::set<std::string>& trainable;
  const std::string& parentPath;
  bool hasBeta;
  SitePlan& plan;
  // Nodes that take the fold: the only ones that may read a folded weight's data.
  std::set<const Node*> consumers = {};

  // An empty string when every use takes the fold or is a residual add in `parentPath`'s own code (which
  // takes the re-applied affine), else why not.
  std::string walk(const Value* out, bool viaView, bool viaDropout) {
    for (const auto& use : out->uses()) {
      auto why = visit(use, viaView, viaDropout);
      if (!why.empty()) return why;
    }
    return {};
  }

  // A folded weight must reach no other computation: an inference fast path that reads it with the
  // original norm (nn.TransformerEncoderLayer's fused layer) would apply gamma twice. "" when none does.
  std::string otherReaders(const torch::jit::Block* block) const {
    for (const Node* n : block->nodes()) {
      for (const auto* inner : n->blocks()) {
        if (auto why = otherReaders(inner); !why.empty()) return why;
      }
      if (n->kind() != c10::prim::GetAttr) continue;
      auto path = attributePath(n->output(), self);
      if (!path) continue;
      for (const auto& f : plan.folds) {
        if (f.weight != *path && f.bias != *path) continue;
        for (const auto& use : n->output()->uses()) {
          if (readsNoData(use.user) || consumers.count(use.user)) continue;
          return "its consumer's parameter " + *path + " is also read by " +
                 std::string(use.user->kind().toQualString()) + " in " + where(use.user, rootType) +
                 ", which would see the folded value without the norm";
        }
      }
    }
    return {};
  }

 private:
  std::string visit(const torch::jit::Use& use, bool viaView, bool viaDropout) {
    const Node* u = use.user;
    if (u->kind() == c10::prim::Return) return throughBlockEnd(use, viaView, viaDropout);
    if (u->kind() == c10::prim::Loop) return "it flows through a loop (prim::Loop) in " + where(u, rootType);
    if (readsNoData(u)) return {};
    if (isView(u) && use.offset == 0) return walk(u->output(), true, viaDropout);
    if (u->kind() == c10::aten::dropout && use.offset == 0) {
      if (hasBeta)
        return "it feeds aten::dropout in " + where(u, rootType) +
               ": the mask would scale the folded bias (exact only for a norm without one)";
      return walk(u->output(), viaView, true);
    }
    if (u->kind() == c10::aten::linear && use.offset == 0) return addFold(u, 1, 2, false, viaDropout);
    if (u->kind() == c10::aten::addmm && use.offset == 1) {
      if (!isDefaultScale(u)) return "it feeds an addmm in " + where(u, rootType) + " with beta or alpha set";
      return addFold(u, 2, 0, true, viaDropout);
    }
    if (u->kind() == c10::aten::_native_multi_head_attention && use.offset <= 2) {
      // The attention's fast path: with query, key and value all this output it projects them with one
      // linear(x, in_proj_weight, in_proj_bias), the same fold as its other path.
      if (u->input(0) != u->input(1) || u->input(1) != u->input(2))
        return "it feeds an attention in " + where(u, rootType) + " as only some of query, key and value";
      if (use.offset > 0) return {};
      return addFold(u, 5, 6, false, viaDropout);
    }
    if ((u->kind() == c10::aten::add || u->kind() == c10::aten::sub) && use.offset < 2) {
      if (!viaView && !viaDropout && nodeModule(u, rootType).path == parentPath) {
        ++plan.residualUses;
        return {};
      }
      return "it feeds a residual " + std::string(u->kind().toQualString()) + " in " + where(u, rootType) +
             (viaView      ? " through a view"
              : viaDropout ? " through a dropout"
                           : "") +
             " (post-LN); lowmem re-applies the affine only on a direct residual in the code that calls "
             "the " +
             "norm (" + (parentPath.empty() ? "the root" : parentPath) + ")";
    }
    return "it feeds " + std::string(u->kind().toQualString()) + " in " + where(u, rootType) +
           ", not a linear with a parameter weight that could take the affine";
  }

  // A use by a block's end: the graph's return (the model's output), a branch of an if (its output, followed
  // further), or a loop's carried value.
  std::string throughBlockEnd(const torch::jit::Use& use, bool viaView, bool viaDropout) {
    const Node* owner = use.user->owningBlock()->owningNode();
    if (!owner) return "the norm's output is returned by the model";
    if (owner->kind() == c10::prim::If) return walk(owner->outputs()[use.offset], viaView, viaDropout);
    return "it flows through a loop (" + std::string(owner->kind().toQualString()) + ") in " +
           where(owner, rootType);
  }

  static bool isDefaultScale(const Node* addmm) {
    for (size_t i = 3; i < addmm->inputs().size(); ++i) {
      auto v = torch::jit::toIValue(addmm->input(i));
      if (!v || !((v->isInt() && v->toInt() == 1) || (v->isDouble() && v->toDouble() == 1.0))) return false;
    }
    return true;
  }

  // A parameter, or rows of one: `w_q, w_k, w_v = w.chunk(3)` (nn.MultiheadAttention's projection when query,
  // key and value differ) takes the fold of the whole `w`, row by row. The chunking nodes count as consumers.
  std::optional<std::string> parameterRows(const Value* v) {
    if (v->node()->kind() == c10::prim::ListUnpack) {
      const Node* split = v->node()->input(0)->node();
      static const std::set<c10::Symbol> kRowSplits = {c10::aten::chunk, c10::aten::split,
                                                       c10::aten::split_with_sizes, c10::aten::unsafe_chunk};
      if (!kRowSplits.count(split->kind())) return std::nullopt;
      auto dim =
          split->inputs().size() > 2 ? torch::jit::toIValue(split->input(2)) : c10::optional<c10::IValue>();
      if (!dim || !dim->isInt() || dim->toInt() != 0) return std::nullopt;
      auto whole = attributePath(split->input(0), self);
      if (whole) {
        consumers.insert(split);
        consumers.insert(v->node());
      }
      return whole;
    }
    return attributePath(v, self);
  }

  std::string addFold(const Node* u, size_t weightAt, size_t biasAt, bool transposed, bool viaDropout) {
    const auto what = std::string(transposed ? "an addmm" : "a linear") + " in " + where(u, rootType);
    auto weight = transposed ? attributePath(u->input(weightAt), self) : parameterRows(u->input(weightAt));
    if (!weight)
      return "it feeds " + what + " whose weight is not a parameter (it comes from " +
             u->input(weightAt)->node()->kind().toQualString() + ")";
    FoldTarget f;
    f.weight = *weight;
    f.transposed = transposed;
    f.viaDropout = viaDropout;
    if (u->inputs().size() > biasAt && !u->input(biasAt)->mustBeNone()) {
      auto bias = transposed ? attributePath(u->input(biasAt), self) : parameterRows(u->input(biasAt));
      if (!bias) return "it feeds " + what + " whose bias is not a parameter";
      f.bias = *bias;
    }
    // A bias-less linear in its weight's own module's code can be given one.
    f.addsBias =
        f.bias.empty() && !transposed && nodeModule(u, rootType).path == splitLastComponent(f.weight).first;
    f.trainable = trainable.count(f.weight) > 0;
    consumers.insert(u);
    for (const auto& g : plan.folds) {
      if (g.weight == f.weight) return {};  // one linear reached by two paths (an attention's fast path)
    }
    if (auto tied = tiedWith(f.weight); !tied.empty())
      return "it feeds " + what + " whose weight " + f.weight + " is tied to " + tied +
             ": folding the affine into it would change " + tied + " too";
    plan.folds.push_back(f);
    return {};
  }

  // Another parameter or buffer sharing `weight`'s storage (tied embeddings), "" when none.
  std::string tiedWith(const std::string& weight) const {
    auto w = attributeAt(root, weight);
    if (!w || !w->isTensor()) return {};
    const auto* data = w->toTensor().storage().data();
    for (const auto& p : root.named_parameters()) {
      if (p.name != weight && p.value.storage().data() == data) return p.name;
    }
    for (const auto& b : root.named_buffers()) {
      if (b.name != weight && b.value.defined() && b.value.storage().data() == data) return b.name;
    }
    return {};
  }
};

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

// The norm's affine parameter at `v` (gamma or beta) into `path`: "" when None; false when it is not a module
// parameter (computed, or passed in).
bool readAffine(const Value* v, const Value* self, std::string& path) {
  if (v->mustBeNone()) return true;
  auto p = attributePath(v, self);
  if (!p) return false;
  path = *p;
  return true;
}

// What the norm's call says (aten::layer_norm, an HF RMSNorm chain, aten::rms_norm): eps, normalized size,
// affine parameters; its output, or nullptr with plan.reason set when they are not constants and parameters.
const Value* readNormCall(const torch::jit::Module& root, const FoundSite& found, const Value* self,
                          SitePlan& plan) {
  const Node* a = found.anchor;
  const Value* out = nullptr;
  bool affineOk = true;
  if (found.site.kind == SiteKind::kLayerNorm) {
    auto shape = valueOf(a->input(1), self, root);
    auto eps = valueOf(a->input(4), self, root);
    if (!shape || !productOfInts(*shape) || !eps || !eps->isDouble()) {
      plan.reason = "its normalized_shape or eps is not a constant or module attribute";
      return nullptr;
    }
    plan.normalizedSize = *productOfInts(*shape);
    plan.eps = eps->toDouble();
    affineOk = readAffine(a->input(2), self, plan.gamma) && readAffine(a->input(3), self, plan.beta);
    out = a->output();
  } else if (a->kind() == c10::aten::rsqrt) {
    auto chain = matchRmsChain(a);
    auto eps = valueOf(chain->eps, self, root);
    // A traced model keeps a Python float added to a tensor as a one-element tensor constant.
    if (eps && eps->isTensor() && eps->toTensor().numel() == 1) eps = eps->toTensor().item<double>();
    if (!eps || !(eps->isDouble() || eps->isInt())) {
      plan.reason = "its eps is neither a constant nor a module attribute";
      return nullptr;
    }
    plan.eps = eps->isDouble() ? eps->toDouble() : static_cast<double>(eps->toInt());
    if (chain->weight) affineOk = readAffine(chain->weight, self, plan.gamma);
    out = chain->output;
  } else {  // aten::rms_norm(x, shape, weight, eps)
    auto shape = valueOf(a->input(1), self, root);
    auto eps = a->inputs().size() > 3 ? valueOf(a->input(3), self, root) : std::nullopt;
    if (!shape || !productOfInts(*shape) || !eps || !eps->isDouble()) {
      plan.reason = "its normalized_shape or eps is not a constant (eps=None uses the dtype's epsilon)";
      return nullptr;
    }
    plan.normalizedSize = *productOfInts(*shape);
    plan.eps = eps->toDouble();
    affineOk = readAffine(a->input(2), self, plan.gamma);
    out = a->output();
  }
  if (!affineOk) {
    plan.reason = "its affine is not a module parameter";
    return nullptr;
  }
  return out;
}

// The norm's form: its call, the size its weight gives, and whether it is a module of its own; its output, or
// nullptr with plan.reason set when the rewrite could not write it.
const Value* readNormForm(const torch::jit::Module& root, const FoundSite& found, const Value* self,
                          SitePlan& plan) {
  const Value* out = readNormCall(root, found, self, plan);
  if (!out) return nullptr;
  if (!plan.gamma.empty()) {
    auto g = attributeAt(root, plan.gamma);
    if (!g || !g->isTensor()) {
      plan.reason = "its weight is not a tensor";
      return nullptr;
    }
    if (plan.normalizedSize == 0) plan.normalizedSize = g->toTensor().numel();
  }
  if (plan.normalizedSize == 0) {
    plan.reason = "an RMSNorm chain without a weight has no known normalized size";
    return nullptr;
  }
  if (!isNormModule(root, found.site.modulePath, found.site.kind)) {
    plan.reason = found.site.modulePath.empty()
                      ? "the norm is written in the root module's own code; only norm modules are rewritten"
                      : "module " + found.site.modulePath +
                            " does more than the norm; only modules that are just a norm are rewritten";
    return nullptr;
  }
  return out;
}

// Every use of the norm's output must take the folded affine (plan.folds) or be a residual that gets it
// re-applied; the reason why not, "" when they all do.
std::string checkConsumers(const torch::jit::Module& root, const Value* out, const Value* self,
                           const std::string& rootType, const std::set<std::string>& trainable,
                           SitePlan& plan) {
  FoldWalk folds{self, root, rootType, trainable, plan.parentPath, !plan.beta.empty(), plan};
  auto why = folds.walk(out, false, false);
  if (why.empty()) why = folds.otherReaders(self->owningGraph()->block());
  if (!why.empty()) return why;
  for (const auto* affine : {&plan.gamma, &plan.beta}) {
    if (plan.residualUses > 0 && !affine->empty() &&
        splitLastComponent(*affine).first != plan.site.modulePath) {
      return "its affine " + *affine +
             " is not the norm module's own parameter, so it cannot be re-applied on the residual path";
    }
  }
  if (plan.folds.empty() && plan.residualUses == 0) return "its output is not used";
  for (const auto& f : plan.folds) {
    if (!plan.beta.empty() && !f.addsBias && f.bias.empty())
      return "consumer " + f.weight + " has no bias to take the norm's beta";
  }
  return {};
}

// A valid norm's reason: which consumer shares its saved output, or why none does.
void explainSharing(SitePlan& plan) {
  const std::string residual =
      plan.residualUses == 0 ? ""
      : plan.gamma.empty() && plan.beta.empty()
          ? "; its residual add takes the output as it is (no affine)"
          : "; the affine is re-applied for its residual add in " +
                (plan.parentPath.empty() ? std::string("the root") : plan.parentPath) + " (post-LN)";
  for (const auto& f : plan.folds) {
    if (f.trainable && !f.viaDropout) {
      plan.sharing = true;
      plan.reason = "shares its saved output with " + f.weight + " (trainable, saves its input)" + residual;
      return;
    }
  }
  std::string dropped;
  for (const auto& f : plan.folds) {
    if (f.trainable && f.viaDropout) dropped += (dropped.empty() ? "" : ", ") + f.weight;
  }
  plan.reason = dropped.empty()
                    ? "no consumer saves its output (every consuming weight is frozen)" + residual
                    : "no consumer saves its output: " + dropped +
                          " (trainable) saves the output of a dropout in between; the fold passes the "
                          "dropout (an elementwise mask) exactly" +
                          residual;
}

void planNorm(const torch::jit::Module& root, const FoundSite& found, const Value* self,
              const std::string& rootType, const std::set<std::string>& trainable, SitePlan& plan) {
  const Value* out = readNormForm(root, found, self, plan);
  if (!out) return;
  std::tie(plan.parentPath, plan.attribute) = splitLastComponent(found.site.modulePath);
  plan.unit = "call " + typeAt(root, plan.parentPath) + "." + plan.attribute;
  if (auto why = checkConsumers(root, out, self, rootType, trainable, plan); !why.empty()) {
    plan.reason = why;
    plan.folds.clear();
    plan.residualUses = 0;
    return;
  }
  plan.valid = true;
  explainSharing(plan);
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
  std::vector<InlinedCall> calls;
  auto graph = inlinedForwardGraph(module, &calls);
  const auto rootType = rootTypeName(module);
  const Value* self = graph->inputs()[0];
  const AttentionCallers callers{module, calls};
  std::vector<SitePlan> plans;
  for (const auto& found : findSwapSitesIn(*graph, rootType)) {
    SitePlan plan;
    plan.site = found.site;
    switch (found.site.kind) {
      case SiteKind::kGelu:
        plan.valid = true;
        break;
      case SiteKind::kGeluTanh:
        plan.reason = "GELU's tanh approximation (" + found.site.form +
                      ") is a different function; ReGELU2's forward is the exact erf GELU";
        break;
      case SiteKind::kSilu:
        plan.valid = found.site.form != "in-place";
        if (!plan.valid) plan.reason = "in-place SiLU (silu_) overwrites its input; only silu() is rewritten";
        break;
      case SiteKind::kLayerNorm:
      case SiteKind::kRmsNorm:
        planNorm(module, found, self, rootType, trainable, plan);
        break;
      case SiteKind::kAttention:
        planAttention(found, self, rootType, trainable, callers, plan);
        break;
    }
    if (plan.unit.empty()) plan.unit = "type " + found.site.moduleType;
    plans.push_back(std::move(plan));
  }
  return plans;
}

}  // namespace lowmem
