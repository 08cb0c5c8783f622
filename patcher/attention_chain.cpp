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

// transpose(-2, -1) in either order; (2, 3) as HF writes it for 4-d heads (a wrong rank fails verification).
bool swapsLastTwo(const Node* t) {
  if (t->kind() != c10::aten::transpose || t->inputs().size() != 3) return false;
  auto a = constantInt(t->input(1)), b = constantInt(t->input(2));
  if (!a || !b) return false;
  const auto lo = std::min(*a, *b), hi = std::max(*a, *b);
  return (lo == -2 && hi == -1) || (lo == 2 && hi == 3);
}

bool isLastDim(const Value* dim) {
  auto d = constantInt(dim);
  return d && *d == -1;
}

std::string shortName(const Node* n) {
  if (n->kind() == c10::prim::CallMethod) return "dropout module";
  std::string name = n->kind().toUnqualString();
  return name;
}

// From the scores into softmax back to matmul(q, kᵀ): fills the chain's nodes before softmax, reversed.
bool matchScores(Value* x, AttentionChain& c, std::vector<Node*>& reversed) {
  if (isCast(x->node()) && singleUse(x)) {
    reversed.push_back(x->node());
    x = x->node()->input(0);
  }
  Node* n = x->node();
  if (n->kind() == c10::aten::masked_fill && singleUse(x) && n->inputs().size() == 3) {
    // scores.masked_fill(m, fill): the keys where m is true are left out.
    if (!dropsKeys(n->input(2)))
      c.unsupported = "its masked_fill value is not -inf or a constant at most -1e4";
    c.mask = n->input(1);
    c.maskDrops = true;
    reversed.push_back(n);
    x = n->input(0);
  } else if (n->kind() == c10::aten::where && singleUse(x) && n->inputs().size() == 3) {
    // torch.where(m, scores, fill) keeps the keys where m is true; torch.where(m, fill, scores) drops them.
    const int side = leadsToMatmul(n->input(1)) ? 1 : 2;
    if (!dropsKeys(n->input(3 - side)))
      c.unsupported = "its torch.where fill is not -inf or a constant at most -1e4";
    c.mask = n->input(0);
    c.maskDrops = side == 2;
    reversed.push_back(n);
    x = n->input(side);
  } else if (n->kind() == c10::aten::add && n->inputs().size() == 3 && singleUse(x)) {
    auto alpha = constantInt(n->input(2));
    const int side = leadsToMatmul(n->input(0)) ? 0 : leadsToMatmul(n->input(1)) ? 1 : -1;
    if (side < 0) return false;
    if (!alpha || *alpha != 1) c.unsupported = "its mask is added with alpha != 1";
    c.mask = n->input(1 - side);
    reversed.push_back(n);
    x = n->input(side);
  }
  n = x->node();
  if (Value* inner = scaledOperand(n, &c.scale, &c.scaleDivides); inner && singleUse(x)) {
    reversed.push_back(n);
    x = inner;
    if (!c.mask && x->node()->kind() == c10::aten::add) c.unsupported = "its mask is added before the scale";
  }
  n = x->node();
  if (!isMatmul(n) || !singleUse(x)) return false;
  reversed.push_back(n);
  Node* t = n->input(1)->node();
  if (!swapsLastTwo(t) || !singleUse(n->input(1))) return false;
  reversed.push_back(t);
  c.k = t->input(0);
  c.q = n->input(0);
  if (!c.scale) {
    if (Value* inner = scaledOperand(c.q->node(), &c.scale, &c.scaleDivides); inner && singleUse(c.q)) {
      reversed.push_back(c.q->node());
      c.q = inner;
    }
  }
  return true;
}

// From softmax's output to matmul(probabilities, v): every value on the way used once, metadata included.
bool matchProbabilities(Value* p, AttentionChain& c, std::vector<Node*>& forward,
                        const DropoutCallTest& isDropoutCall) {
  if (p->uses().size() != 1) return false;
  Node* u = p->uses()[0].user;
  if (isCast(u) && p->uses()[0].offset == 0) {
    forward.push_back(u);
    p = u->output();
    if (p->uses().size() != 1) return false;
    u = p->uses()[0].user;
  }
  const bool dropoutCall = isDropoutCall && u->kind() == c10::prim::CallMethod && isDropoutCall(u);
  if ((u->kind() == c10::aten::dropout || dropoutCall) && p->uses()[0].offset == (dropoutCall ? 1 : 0)) {
    c.dropout = u;
    forward.push_back(u);
    p = u->output();
    if (p->uses().size() != 1) return false;
    u = p->uses()[0].user;
  }
  if (!isMatmul(u) || p->uses()[0].offset != 0) return false;
  forward.push_back(u);
  c.v = u->input(1);
  c.output = u;
  return true;
}

}  // namespace

std::optional<AttentionChain> matchAttentionChain(Node* softmax, const DropoutCallTest& isDropoutCall) {
  if (softmax->kind() != c10::aten::softmax || softmax->inputs().size() < 2 || !isLastDim(softmax->input(1)))
    return std::nullopt;
  AttentionChain c;
  std::vector<Node*> before, after;
  if (!matchScores(softmax->input(0), c, before)) return std::nullopt;
  if (!matchProbabilities(softmax->output(), c, after, isDropoutCall)) return std::nullopt;
  c.nodes.assign(before.rbegin(), before.rend());
  c.nodes.push_back(softmax);
  c.nodes.insert(c.nodes.end(), after.begin(), after.end());
  for (const Node* n : c.nodes) {
    if (n->kind() == c10::aten::transpose) continue;  // a view: nothing to find in a trace or a form
    c.form += (c.form.empty() ? "" : "/") + shortName(n);
  }
  return c;
}

}  // namespace lowmem
