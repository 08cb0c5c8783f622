#include "patcher/site_finder.h"

#include <torch/csrc/jit/ir/ir.h>

#include <cmath>
#include <optional>

#include "patcher/attention_chain.h"
#include "patcher/inlined_graph.h"

namespace lowmem {
namespace {

using torch::jit::Node;
using torch::jit::Value;

// c10::optional and std::optional are distinct in LibTorch 1.13 and the same type in 2.x.
c10::optional<c10::IValue> constantOf(const Value* v) {
  return torch::jit::toIValue(v);
}

bool isConstantNumber(const Value* v, double expected) {
  auto iv = constantOf(v);
  if (!iv) return false;
  if (iv->isInt()) return static_cast<double>(iv->toInt()) == expected;
  if (iv->isDouble()) return iv->toDouble() == expected;
  return false;
}

// x * x, x ** 2, or square(x): the squared input of an RMSNorm; returns x.
const Value* squaredInput(const Node* n) {
  if (n->kind() == c10::aten::pow && n->inputs().size() == 2 && isConstantNumber(n->input(1), 2.0)) {
    return n->input(0);
  }
  if (n->kind() == c10::aten::mul && n->inputs().size() == 2 && n->input(0) == n->input(1))
    return n->input(0);
  if (n->kind() == c10::aten::square) return n->input(0);
  return nullptr;
}

// An int list that is a constant, or a prim::ListConstruct of constants (unoptimised graphs keep those).
std::optional<std::vector<int64_t>> constantInts(const Value* v) {
  if (auto iv = constantOf(v); iv && iv->isIntList()) return iv->toIntVector();
  if (v->node()->kind() != c10::prim::ListConstruct) return std::nullopt;
  std::vector<int64_t> out;
  for (const Value* item : v->node()->inputs()) {
    auto iv = constantOf(item);
    if (!iv || !iv->isInt()) return std::nullopt;
    out.push_back(iv->toInt());
  }
  return out;
}

// mean(_, [-1], keepdim=True): the per-row statistic.
bool isLastDimMean(const Node* n) {
  if (n->kind() != c10::aten::mean || n->inputs().size() < 3) return false;
  auto dims = constantInts(n->input(1));
  auto keep = constantOf(n->input(2));
  if (!dims || !keep || !keep->isBool() || !keep->toBool()) return false;
  return dims->size() == 1 && dims->front() == -1;
}

bool isCast(const Node* n) {
  return n->kind() == c10::aten::to || n->kind() == c10::aten::type_as;
}

bool isParameterRead(const Value* v) {
  return v->node()->kind() == c10::prim::GetAttr;
}

// T5's `if self.weight.dtype in (fp16, bf16): h = h.to(self.weight.dtype)`: the output of the `if` whose
// branches yield `v` or a cast of it; nullptr when `v` is used otherwise.
const Value* castOnSomeBranches(const Value* v) {
  const Node* ifNode = nullptr;
  size_t offset = 0;
  for (const auto& use : v->uses()) {
    const torch::jit::Use* end = &use;
    if (isCast(use.user)) {
      const auto& castUses = use.user->output()->uses();
      if (castUses.size() != 1) return nullptr;
      end = &castUses[0];
    }
    if (end->user->kind() != c10::prim::Return) return nullptr;
    const Node* owner = end->user->owningBlock()->owningNode();
    if (!owner || owner->kind() != c10::prim::If || (ifNode && (owner != ifNode || end->offset != offset)))
      return nullptr;
    ifNode = owner;
    offset = end->offset;
  }
  return ifNode ? ifNode->outputs()[offset] : nullptr;
}

bool isConstantNear(const Value* v, double expected) {
  auto iv = constantOf(v);
  const double x = !iv              ? 0
                   : iv->isDouble() ? iv->toDouble()
                   : iv->isInt()    ? static_cast<double>(iv->toInt())
                                    : 0;
  return iv && std::abs(x - expected) <= 1e-6 * std::abs(expected);
}

// The operand of a binary mul beside a constant near `c`; nullptr when neither side is.
const Value* timesConstant(const Node* n, double c) {
  if (n->kind() != c10::aten::mul || n->inputs().size() != 2) return nullptr;
  if (isConstantNear(n->input(0), c)) return n->input(1);
  if (isConstantNear(n->input(1), c)) return n->input(0);
  return nullptr;
}

// GELU's tanh approximation written out, as HF's gelu_new / NewGELUActivation: tanh(sqrt(2/pi) * (x +
// 0.044715 * x^3)).
bool isWrittenOutTanhGelu(const Node* tanh) {
  const Value* inner = timesConstant(tanh->input(0)->node(), std::sqrt(2.0 / M_PI));
  if (!inner || inner->node()->kind() != c10::aten::add) return false;
  const Node* add = inner->node();
  for (int i = 0; i < 2; ++i) {
    const Value* cube = timesConstant(add->input(i)->node(), 0.044715);
    if (!cube) continue;
    const Node* p = cube->node();
    if (p->kind() == c10::aten::pow && p->input(0) == add->input(1 - i) && isConstantNumber(p->input(1), 3.0))
      return true;
  }
  return false;
}

}  // namespace

// The HF chain anchored at rsqrt: x.pow(2).mean(-1, keepdim=True) + eps -> rsqrt -> x * r [-> cast] [-> w *
// _].
std::optional<RmsChain> matchRmsChain(const Node* rsqrt) {
  const Node* add = rsqrt->input(0)->node();
  if (add->kind() != c10::aten::add || add->inputs().size() < 2) return std::nullopt;
  const Node* mean = add->input(0)->node();
  if (!isLastDimMean(mean)) mean = add->input(1)->node();
  if (!isLastDimMean(mean)) return std::nullopt;
  const Value* x = squaredInput(mean->input(0)->node());
  if (!x) return std::nullopt;

  const Node* scale = nullptr;
  // T5 squares a cast copy but scales the input itself: either is the chain's x.
  const Value* uncast = isCast(x->node()) ? x->node()->input(0) : x;
  for (const auto& use : rsqrt->output()->uses()) {
    const Node* u = use.user;
    if (u->kind() != c10::aten::mul) continue;
    if (u->input(0) == x || u->input(1) == x || u->input(0) == uncast || u->input(1) == uncast) scale = u;
  }
  if (!scale) return std::nullopt;

  RmsChain chain;
  chain.form = "pow/mean/add/rsqrt/mul";
  chain.input = x;
  if (isCast(x->node())) {
    chain.form += " +cast in";
    chain.input = x->node()->input(0);
  }
  chain.eps = add->input(0)->node() == mean ? add->input(1) : add->input(0);
  const Value* normalised = scale->output();
  if (normalised->uses().size() == 1 && isCast(normalised->uses()[0].user)) {
    chain.form += " +cast out";
    normalised = normalised->uses()[0].user->output();
  } else if (const Value* merged = castOnSomeBranches(normalised)) {
    chain.form += " +cast out (if)";
    normalised = merged;
  }
  chain.output = normalised;
  if (normalised->uses().size() == 1) {
    const Node* u = normalised->uses()[0].user;
    if (u->kind() == c10::aten::mul && (isParameterRead(u->input(0)) || isParameterRead(u->input(1)))) {
      chain.form += " +weight";
      chain.weight = isParameterRead(u->input(0)) ? u->input(0) : u->input(1);
      chain.output = u->output();
    }
  }
  return chain;
}

namespace {

void collect(torch::jit::Block* block, const std::string& rootType, std::vector<FoundSite>& sites) {
  static const auto kRmsNormOp = c10::Symbol::fromQualString("aten::rms_norm");
  for (Node* n : block->nodes()) {
    for (auto* inner : n->blocks())
      collect(inner, rootType, sites);
    SwapSite site;
    if (n->kind() == c10::aten::gelu) {
      auto mode =
          n->inputs().size() > 1 ? constantOf(n->input(1)) : c10::optional<c10::IValue>(std::string("none"));
      const std::string approximate = mode && mode->isString() ? mode->toStringRef() : "<not a constant>";
      site.kind = approximate == "none" ? SiteKind::kGelu : SiteKind::kGeluTanh;
      site.form = "approximate=" + approximate;
    } else if (n->kind() == c10::aten::tanh && isWrittenOutTanhGelu(n)) {
      site.kind = SiteKind::kGeluTanh;
      site.form = "written out: 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3)))";
    } else if (n->kind() == c10::aten::silu || n->kind() == c10::aten::silu_) {
      site.kind = SiteKind::kSilu;
      site.form = n->kind() == c10::aten::silu_ ? "in-place" : "";
    } else if (n->kind() == c10::aten::layer_norm) {
      site.kind = SiteKind::kLayerNorm;
      auto eps = n->inputs().size() > 4 ? constantOf(n->input(4)) : c10::nullopt;
      site.form = eps && eps->isDouble() ? "eps=" + c10::str(eps->toDouble()) : "";
    } else if (n->kind() == kRmsNormOp) {
      site.kind = SiteKind::kRmsNorm;
      site.form = "aten::rms_norm";
    } else if (n->kind() == c10::aten::rsqrt) {
      auto chain = matchRmsChain(n);
      if (!chain) continue;
      site.kind = SiteKind::kRmsNorm;
      site.form = chain->form;
    } else if (n->kind() == c10::aten::softmax) {
      auto chain = matchAttentionChain(n);
      if (!chain) continue;
      site.kind = SiteKind::kAttention;
      site.form = chain->form;
    } else {
      continue;
    }
    site.op = n->kind().toQualString();
    const auto owner = nodeModule(n, rootType);
    site.modulePath = owner.path;
    site.moduleType = owner.type;
    site.ordinal = static_cast<int>(sites.size());
    sites.push_back({std::move(site), n});
  }
}

}  // namespace

std::string rootTypeName(const torch::jit::Module& module) {
  return module.type()->name() ? module.type()->name()->name() : "Module";
}

std::vector<FoundSite> findSwapSitesIn(torch::jit::Graph& graph, const std::string& rootType) {
  std::vector<FoundSite> sites;
  collect(graph.block(), rootType, sites);
  return sites;
}

std::vector<SwapSite> findSwapSites(const torch::jit::Module& module) {
  auto graph = inlinedForwardGraph(module);
  std::vector<SwapSite> sites;
  for (auto& found : findSwapSitesIn(*graph, rootTypeName(module)))
    sites.push_back(std::move(found.site));
  return sites;
}

}  // namespace lowmem
