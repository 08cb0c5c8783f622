#include "patcher/attention_chain.h"

#include <algorithm>

namespace lowmem {
namespace {

using torch::jit::Node;
using torch::jit::Value;

bool isMatmul(const Node* n) {
  return n->kind() == c10::aten::matmul || n->kind() == c10::aten::bmm;
}

bool isCast(const Node* n) {
  return n->kind() == c10::aten::to || n->kind() == c10::aten::type_as;
}

// Reads of a tensor's metadata, not its data: `w.dtype`, `w.device`, `w.size(-1)`, `type_as(w)`'s target.
bool readsMetadata(const torch::jit::Use& use) {
  const auto kind = use.user->kind();
  return kind == c10::prim::dtype || kind == c10::prim::device || kind == c10::aten::size ||
         kind == c10::aten::dim || (kind == c10::aten::type_as && use.offset == 1);
}

// One use reads the value's data (metadata reads aside): a value in the middle of the chain.
bool singleUse(const Value* v) {
  int data = 0;
  for (const auto& use : v->uses())
    data += !readsMetadata(use);
  return data == 1;
}

std::optional<int64_t> constantInt(const Value* v) {
  auto iv = torch::jit::toIValue(v);
  if (!iv || !iv->isInt()) return std::nullopt;
  return iv->toInt();
}

// A Python number, or a one-element tensor constant (what tracing makes of `/ math.sqrt(d)`).
bool isScalarLike(const Value* v) {
  const auto kind = v->type()->kind();
  if (kind == c10::TypeKind::FloatType || kind == c10::TypeKind::IntType || kind == c10::TypeKind::NumberType)
    return true;
  auto iv = torch::jit::toIValue(v);
  return iv && iv->isTensor() && iv->toTensor().numel() == 1;
}

// A constant fill value: a number, a one-element tensor constant, or the `torch.tensor(c, dtype=...,
// device=...)`, `torch.scalar_tensor(c)` and `torch.full([], c)` that code writes for one (a trace records
// the first as a constant moved with `to` and `detach`ed).
std::optional<double> constantFill(const Value* v) {
  if (auto iv = torch::jit::toIValue(v)) {
    if (iv->isDouble()) return iv->toDouble();
    if (iv->isInt()) return static_cast<double>(iv->toInt());
    if (iv->isTensor() && iv->toTensor().numel() == 1) return iv->toTensor().item<double>();
    return std::nullopt;
  }
  static const auto tensor = c10::Symbol::fromQualString("aten::tensor");
  static const auto scalarTensor = c10::Symbol::fromQualString("aten::scalar_tensor");
  const Node* n = v->node();
  if (n->kind() == tensor || n->kind() == scalarTensor || n->kind() == c10::aten::to ||
      n->kind() == c10::aten::detach)
    return constantFill(n->input(0));
  if (n->kind() == c10::aten::full && n->inputs().size() >= 2) return constantFill(n->input(1));
  return std::nullopt;
}

// A fill no masked key's probability survives: -inf, or a constant at most -1e4, whose exp underflows to
// exactly 0 in fp32 and fp64 next to any score a model makes (so the op's boolean mask, which leaves those
// keys out, computes the same). Only a row with every key masked differs: the op gives it 0, the chain a
// uniform average (NaN for -inf).
bool dropsKeys(const Value* fill) {
  const auto f = constantFill(fill);
  return f && *f <= -1e4;
}

// `x * c`, `c * x` or `x / c` with a scalar c: the tensor operand; nullptr otherwise.
Value* scaledOperand(Node* n, Value** scale, bool* divides) {
  if (n->inputs().size() != 2) return nullptr;
  if (n->kind() == c10::aten::mul) {
    for (int i = 0; i < 2; ++i) {
      if (isScalarLike(n->input(i)) && !isScalarLike(n->input(1 - i))) {
        *scale = n->input(i);
        *divides = false;
        return n->input(1 - i);
      }
    }
  } else if (n->kind() == c10::aten::div && isScalarLike(n->input(1)) && !isScalarLike(n->input(0))) {
    *scale = n->input(1);
    *divides = true;
    return n->input(0);
  }
  return nullptr;
}

bool leadsToMatmul(Value* v) {
  Value* scale = nullptr;
  bool divides = false;
  if (Value* inner = scaledOperand(v->node(), &scale, &divides)) v = inner;
  return isMatmul(v->node());
}

// baddbmm(input, q, kᵀ) with beta = alpha = 1: the scores plus `input` (F.multi_head_attention_forward's
// masked scores).
bool isMaskedProduct(const Node* n) {
  if (n->kind() != c10::aten::baddbmm || n->inputs().size() != 5) return false;
  const auto beta = constantFill(n->input(3)), alpha = constantFill(n->input(4));
  return beta && alpha && *beta == 1 && *alpha == 1;
}

// transpose(-2, -1) in either order; (2, 3) as HF writes it for 4-d heads (a wrong rank fails verification).
bool swapsLastTwo(const Node* t) {
  if (t->kind() != c10::aten::transpose || t->inputs().size() != 3) return false;
  auto a = constantInt(t->input(1)), b = constantInt(t->input(2));
  if (!a || !b) return false;
  const auto lo = std::min(*a, *b), hi = std::max(*a, *b);
  return (lo == -2 && hi == -1) || (lo == 2 && hi == 3);
}

// The q operand of a product of q and kᵀ (matmul, bmm; baddbmm's second).
Value* productQ(const Node* product) {
  return product->input(product->kind() == c10::aten::baddbmm ? 1 : 0);
}

// The transpose of k a product reads, read by it alone; nullptr when its kᵀ operand is not one.
Node* transposedK(const Node* product) {
  Value* kt = product->input(product->kind() == c10::aten::baddbmm ? 2 : 1);
  return swapsLastTwo(kt->node()) && singleUse(kt) ? kt->node() : nullptr;
}

// The data uses of `v` are exactly `users` (metadata reads aside).
bool readOnlyBy(const Value* v, const std::vector<const Node*>& users) {
  size_t data = 0;
  for (const auto& use : v->uses()) {
    if (readsMetadata(use)) continue;
    if (std::find(users.begin(), users.end(), use.user) == users.end()) return false;
    ++data;
  }
  return data == users.size();
}

// `mask is not None` or `mask is None` as an If's condition: the Optional, and whether the If's true branch
// is the one with the mask.
struct NoneTest {
  Value* optional = nullptr;
  bool trueIsMasked = true;
};

std::optional<NoneTest> noneTest(const Value* cond) {
  const Node* n = cond->node();
  if ((n->kind() != c10::aten::__isnot__ && n->kind() != c10::aten::__is__) || n->inputs().size() != 2)
    return std::nullopt;
  const int side = n->input(1)->mustBeNone() ? 0 : n->input(0)->mustBeNone() ? 1 : -1;
  if (side < 0) return std::nullopt;
  return NoneTest{n->input(static_cast<size_t>(side)), n->kind() == c10::aten::__isnot__};
}

// The Optional itself, or refined to a tensor in the branch that knows it is one.
bool refines(const Value* v, const Value* optional) {
  return v == optional || (v->node()->kind() == c10::prim::unchecked_cast && v->node()->input(0) == optional);
}

// The scores an If chooses by `mask is not None`: baddbmm(mask, q, kᵀ) with the mask, bmm(q, kᵀ) without
// (F.multi_head_attention_forward), or `scores + mask` and `scores` (`if mask is not None: scores = scores +
// mask`). Sets the chain's mask; returns the products of the first form (both read q), the scores of the
// second.
struct OptionalMask {
  std::vector<Node*> products;
  Value* scores = nullptr;
};

std::optional<OptionalMask> matchOptionalMask(Node* branch, AttentionChain& c) {
  if (branch->kind() != c10::prim::If || branch->outputs().size() != 1) return std::nullopt;
  const auto test = noneTest(branch->input(0));
  if (!test) return std::nullopt;
  torch::jit::Block* masked = branch->blocks()[test->trueIsMasked ? 0 : 1];
  torch::jit::Block* plain = branch->blocks()[test->trueIsMasked ? 1 : 0];
  Value* with = masked->outputs()[0];
  Value* without = plain->outputs()[0];
  Node* m = with->node();
  if (m->owningBlock() != masked || with->uses().size() != 1) return std::nullopt;
  OptionalMask out;
  if (isMaskedProduct(m) && refines(m->input(0), test->optional)) {
    Node* p = without->node();
    if (p->owningBlock() != plain || !isMatmul(p) || without->uses().size() != 1) return std::nullopt;
    const Node *tm = transposedK(m), *tp = transposedK(p);
    if (!tm || !tp || tm->input(0) != tp->input(0) || productQ(m) != productQ(p)) return std::nullopt;
    out.products = {m, p};
  } else if (m->kind() == c10::aten::add && m->inputs().size() == 3) {
    const auto alpha = constantInt(m->input(2));
    const int side = m->input(0) == without ? 0 : m->input(1) == without ? 1 : -1;
    if (side < 0 || !refines(m->input(static_cast<size_t>(1 - side)), test->optional)) return std::nullopt;
    if (!alpha || *alpha != 1) c.unsupported = "its mask is added with alpha != 1";
    if (!readOnlyBy(without, {m, plain->return_node()})) return std::nullopt;
    out.scores = without;
  } else {
    return std::nullopt;
  }
  c.mask = test->optional;
  c.maskOptional = true;
  return out;
}

bool isView(const Node* n) {
  return n->kind() == c10::aten::view || n->kind() == c10::aten::reshape;
}

// How many sizes a view's list gives; -1 when the graph does not tell.
int64_t viewRank(const Node* view) {
  const Value* sizes = view->input(1);
  if (auto iv = torch::jit::toIValue(sizes); iv && iv->isIntList())
    return static_cast<int64_t>(iv->toIntList().size());
  if (sizes->node()->kind() == c10::prim::ListConstruct)
    return static_cast<int64_t>(sizes->node()->inputs().size());
  return -1;
}

// view(view(s, split) + m, back) with one size more in `split` than in `back`: s, with the chain's window
// mask set; nullptr when `x` is not that. `nodes` gets the view back, the add and the split, in that order.
Value* splitViewMask(Value* x, AttentionChain& c, std::vector<Node*>& nodes) {
  Node* back = x->node();
  if (!isView(back) || x->uses().size() != 1) return nullptr;
  Value* added = back->input(0);
  Node* add = added->node();
  if (add->kind() != c10::aten::add || add->inputs().size() != 3 || !singleUse(added)) return nullptr;
  const int64_t rank = viewRank(back);
  for (int side = 0; side < 2; ++side) {
    Value* split = add->input(static_cast<size_t>(side));
    Node* view = split->node();
    if (!isView(view) || !singleUse(split) || rank < 2 || viewRank(view) != rank + 1) continue;
    const auto alpha = constantInt(add->input(2));
    if (!alpha || *alpha != 1) c.unsupported = "its window mask is added with alpha != 1";
    c.windowMask = add->input(static_cast<size_t>(1 - side));
    c.windowSizes = view->input(1);
    c.windowNodes = {view, add, back};
    nodes.insert(nodes.end(), {back, add, view});
    return view->input(0);
  }
  return nullptr;
}

// A window mask on the scores `x` (splitViewMask's form, or an If running it in one branch and passing the
// scores on in the other): the scores before it, which `shared` gets when both branches read them; `x`
// itself when there is none. Fills the chain's nodes before softmax, reversed.
Value* windowedScores(Value* x, AttentionChain& c, std::vector<Node*>& reversed,
                      std::vector<const Value*>& shared) {
  Node* n = x->node();
  if (n->kind() != c10::prim::If) {
    std::vector<Node*> nodes;
    Value* s = splitViewMask(x, c, nodes);
    if (!s) return x;
    reversed.insert(reversed.end(), nodes.begin(), nodes.end());
    return s;
  }
  if (n->outputs().size() != 1 || !singleUse(x)) return x;
  for (size_t b = 0; b < 2; ++b) {
    torch::jit::Block* passing = n->blocks()[1 - b];
    Value* passed = passing->outputs()[0];
    AttentionChain probe;
    std::vector<Node*> nodes;
    Value* s = splitViewMask(n->blocks()[b]->outputs()[0], probe, nodes);
    if (!s || s != passed || s->node()->owningBlock() != n->owningBlock() ||
        !readOnlyBy(s, {probe.windowNodes.front(), passing->return_node()}))
      continue;
    c.windowMask = probe.windowMask;
    c.windowSizes = probe.windowSizes;
    c.windowNodes = probe.windowNodes;
    if (!probe.unsupported.empty()) c.unsupported = probe.unsupported;
    c.windowGate = n;
    reversed.push_back(n);
    shared.push_back(s);
    return s;
  }
  return x;
}

bool isLastDim(const Value* dim) {
  auto d = constantInt(dim);
  return d && *d == -1;
}

std::string shortName(const Node* n, const AttentionChain& c) {
  if (n->kind() == c10::prim::CallMethod) return "dropout module";
  if (n == c.dropoutGate) return "dropout (under if)";
  if (n == c.windowGate) return "add window mask (under if)";
  if (c.windowMask && n == c.windowNodes[1]) return "add window mask";
  if (n->kind() == c10::prim::If) {
    const Node* masked = n->blocks()[0]->outputs()[0]->node();
    return masked->kind() == c10::aten::add || n->blocks()[1]->outputs()[0]->node()->kind() == c10::aten::add
               ? "add mask (if given)"
               : "baddbmm mask (if given)";
  }
  std::string name = n->kind().toUnqualString();
  return name;
}

// From the scores into softmax back to matmul(q, kᵀ): fills the chain's nodes before softmax, reversed.
bool matchScores(Value* x, AttentionChain& c, std::vector<Node*>& reversed) {
  if (isCast(x->node()) && singleUse(x)) {
    reversed.push_back(x->node());
    x = x->node()->input(0);
  }
  // Values the chain reads twice, both times itself: the scores both branches of an If take (a window
  // mask's, an optional mask's).
  std::vector<const Value*> shared;
  const auto chainOnly = [&](const Value* v) {
    return singleUse(v) || std::find(shared.begin(), shared.end(), v) != shared.end();
  };
  x = windowedScores(x, c, reversed, shared);
  Node* n = x->node();
  // The products of q and kᵀ when the mask came with them (baddbmm; one in each branch of an If).
  std::vector<Node*> products;
  if (n->kind() == c10::aten::masked_fill && chainOnly(x) && n->inputs().size() == 3) {
    // scores.masked_fill(m, fill): the keys where m is true are left out.
    if (!dropsKeys(n->input(2)))
      c.unsupported = "its masked_fill value is not -inf or a constant at most -1e4";
    c.mask = n->input(1);
    c.maskDrops = true;
    reversed.push_back(n);
    x = n->input(0);
  } else if (n->kind() == c10::aten::where && chainOnly(x) && n->inputs().size() == 3) {
    // torch.where(m, scores, fill) keeps the keys where m is true; torch.where(m, fill, scores) drops them.
    const int side = leadsToMatmul(n->input(1)) ? 1 : 2;
    if (!dropsKeys(n->input(3 - side)))
      c.unsupported = "its torch.where fill is not -inf or a constant at most -1e4";
    c.mask = n->input(0);
    c.maskDrops = side == 2;
    reversed.push_back(n);
    x = n->input(side);
  } else if (n->kind() == c10::aten::add && n->inputs().size() == 3 && chainOnly(x)) {
    auto alpha = constantInt(n->input(2));
    const int side = leadsToMatmul(n->input(0)) ? 0 : leadsToMatmul(n->input(1)) ? 1 : -1;
    if (side < 0) return false;
    if (!alpha || *alpha != 1) c.unsupported = "its mask is added with alpha != 1";
    c.mask = n->input(1 - side);
    reversed.push_back(n);
    x = n->input(side);
  } else if (isMaskedProduct(n) && chainOnly(x)) {
    c.mask = n->input(0);
    products = {n};
  } else if (n->kind() == c10::prim::If && chainOnly(x)) {
    auto optional = matchOptionalMask(n, c);
    if (!optional) return false;
    reversed.push_back(n);
    products = optional->products;
    if (optional->scores) {
      x = optional->scores;
      shared.push_back(x);
    }
  }
  // The op adds a window mask and one more additive mask as one (the rewrite sums them).
  if (c.windowMask && c.mask && (c.maskDrops || c.maskOptional || !products.empty()) && c.unsupported.empty())
    c.unsupported =
        "its window mask comes with a boolean, optional or fused mask, which the op cannot add to it";
  if (products.empty()) {
    n = x->node();
    if (Value* inner = scaledOperand(n, &c.scale, &c.scaleDivides); inner && chainOnly(x)) {
      reversed.push_back(n);
      x = inner;
      if (!c.mask && x->node()->kind() == c10::aten::add)
        c.unsupported = "its mask is added before the scale";
    }
    n = x->node();
    if (!isMatmul(n) || !chainOnly(x)) return false;
    products = {n};
  }
  // Products inside an If's branches go with it; one at the top level is the chain's own node.
  Node* product = products.front();
  Node* t = transposedK(product);
  if (!t) return false;
  if (products.size() == 1) {
    reversed.push_back(product);
    reversed.push_back(t);
  }
  c.k = t->input(0);
  c.q = productQ(product);
  if (!c.scale) {
    const std::vector<const Node*> readers(products.begin(), products.end());
    if (Value* inner = scaledOperand(c.q->node(), &c.scale, &c.scaleDivides);
        inner && readOnlyBy(c.q, readers)) {
      reversed.push_back(c.q->node());
      c.q = inner;
    }
  }
  return true;
}

// `if cond: p = dropout(p, ...)`, p passed on unchanged otherwise: the If, with the dropout as the chain's;
// nullptr when p's two uses are not such an If's.
Node* dropoutGate(Value* p, AttentionChain& c) {
  if (p->uses().size() != 2) return nullptr;
  for (const auto& use : p->uses()) {
    Node* d = use.user;
    if (d->kind() != c10::aten::dropout || use.offset != 0) continue;
    Node* gate = d->owningBlock()->owningNode();
    if (!gate || gate->kind() != c10::prim::If || gate->outputs().size() != 1) return nullptr;
    const size_t dropping = gate->blocks()[0] == d->owningBlock() ? 0 : 1;
    torch::jit::Block* passing = gate->blocks()[1 - dropping];
    if (d->owningBlock()->outputs()[0] != d->output() || d->output()->uses().size() != 1 ||
        passing->outputs()[0] != p)
      return nullptr;
    c.dropout = d;
    c.dropoutGate = gate;
    return gate;
  }
  return nullptr;
}

// The condition of an If in whose true branch `user` runs, reading the probabilities after the chain's
// output: nullptr when there is none.
Value* trueBranchCondition(Node* user, const Node* output) {
  for (Node* n = user; n->owningBlock()->owningNode();) {
    Node* owner = n->owningBlock()->owningNode();
    if (owner->kind() == c10::prim::If && owner->blocks()[0] == n->owningBlock() && owner->isAfter(output))
      return owner->input(0);
    n = owner;
  }
  return nullptr;
}

// From softmax's output to matmul(probabilities, v): every value on the way used once, metadata included;
// where allowed, the probabilities may also be read in the true branches of Ifs on one condition.
bool matchProbabilities(Value* p, AttentionChain& c, std::vector<Node*>& forward,
                        const DropoutCallTest& isDropoutCall, bool allowReturned) {
  if (p->uses().size() == 1 && isCast(p->uses()[0].user) && p->uses()[0].offset == 0) {
    forward.push_back(p->uses()[0].user);
    p = p->uses()[0].user->output();
  }
  if (Node* gate = dropoutGate(p, c)) {
    forward.push_back(gate);
    p = gate->output();
  } else if (p->uses().size() == 1) {
    Node* u = p->uses()[0].user;
    const bool dropoutCall = isDropoutCall && u->kind() == c10::prim::CallMethod && isDropoutCall(u);
    if ((u->kind() == c10::aten::dropout || dropoutCall) && p->uses()[0].offset == (dropoutCall ? 1 : 0)) {
      c.dropout = u;
      forward.push_back(u);
      p = u->output();
    }
  }
  Node* output = nullptr;
  std::vector<torch::jit::Use> others;
  for (const auto& use : p->uses()) {
    if (!output && isMatmul(use.user) && use.offset == 0 &&
        use.user->owningBlock() == p->node()->owningBlock())
      output = use.user;
    else
      others.push_back(use);
  }
  if (!output) return false;
  if (!others.empty()) {
    if (!allowReturned) return false;
    for (const auto& use : others) {
      Value* cond = trueBranchCondition(use.user, output);
      if (!cond || (c.returnedWhen && cond != c.returnedWhen)) return false;
      c.returnedWhen = cond;
    }
    c.returnedUses = others;
  }
  forward.push_back(output);
  c.probabilities = p;
  c.v = output->input(1);
  c.output = output;
  return true;
}

}  // namespace

std::optional<AttentionChain> matchAttentionChain(Node* softmax, const DropoutCallTest& isDropoutCall,
                                                  bool allowReturned) {
  if (softmax->kind() != c10::aten::softmax || softmax->inputs().size() < 2 || !isLastDim(softmax->input(1)))
    return std::nullopt;
  AttentionChain c;
  std::vector<Node*> before, after;
  if (!matchScores(softmax->input(0), c, before)) return std::nullopt;
  if (!matchProbabilities(softmax->output(), c, after, isDropoutCall, allowReturned)) return std::nullopt;
  if (c.windowMask && c.returnedWhen && c.unsupported.empty())
    c.unsupported = "its code returns probabilities it forms with a window mask";
  c.nodes.assign(before.rbegin(), before.rend());
  c.nodes.push_back(softmax);
  c.nodes.insert(c.nodes.end(), after.begin(), after.end());
  for (const Node* n : c.nodes) {
    // Views: nothing to find in a trace or a form.
    if (n->kind() == c10::aten::transpose ||
        (c.windowMask && (n == c.windowNodes[0] || n == c.windowNodes[2])))
      continue;
    c.form += (c.form.empty() ? "" : "/") + shortName(n, c);
  }
  return c;
}

}  // namespace lowmem
