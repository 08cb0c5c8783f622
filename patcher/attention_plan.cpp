#include "patcher/attention_plan.h"

#include <torch/csrc/jit/ir/ir.h>

#include "patcher/attention_chain.h"
#include "patcher/inlined_graph.h"

namespace lowmem {
namespace {

using torch::jit::Node;
using torch::jit::Value;

// The trainable parameter `v` is computed from (T5's learned position bias as the mask), "" when none.
std::string trainableSource(const Value* v, const Value* self, const std::set<std::string>& trainable,
                            std::set<const Node*>& seen) {
  // Sizes, dtypes and devices carry no gradient: `mask.to(q.dtype)` does not make the mask q's.
  if (!v->type()->cast<c10::TensorType>()) return {};
  const Node* n = v->node();
  if (n->kind() == c10::prim::GetAttr) {
    auto path = attributePath(v, self);
    return path && trainable.count(*path) ? *path : std::string();
  }
  if (n->kind() == c10::prim::Param || !seen.insert(n).second) return {};
  for (const Value* in : n->inputs()) {
    if (auto p = trainableSource(in, self, trainable, seen); !p.empty()) return p;
  }
  for (const auto* block : n->blocks()) {
    for (const Value* out : block->outputs()) {
      if (auto p = trainableSource(out, self, trainable, seen); !p.empty()) return p;
    }
  }
  return {};
}

// Dropout on the probabilities: lowmem::attention applies it (the same distribution, drawn where the
// probabilities are formed), given a probability the rewrite can pass: a constant, or a value of the
// attention's own code. The reason when not; the note for the report when so (empty when it cannot drop).
struct DropoutCheck {
  std::string problem;
  std::string note;
};

DropoutCheck checkDropout(const Node* dropout, bool inSiteCode) {
  auto p = torch::jit::toIValue(dropout->input(1));
  auto train = torch::jit::toIValue(dropout->input(2));
  if (train && train->isBool() && !train->toBool()) return {};
  if (!p && !inSiteCode) return {"its dropout module's probability is not a constant (nn.Dropout's is)", ""};
  if (p && !(p->isDouble() || p->isInt())) return {"its dropout probability is not a number", ""};
  const double prob = !p ? -1 : p->isDouble() ? p->toDouble() : static_cast<double>(p->toInt());
  if (prob == 0) return {};
  const std::string rate = prob < 0 ? "the module's probability" : "p=" + c10::str(prob);
  return {"",
          "drops probabilities inside the op (" + rate +
              "; aten::dropout's distribution, a Philox stream seeded from torch's CPU generator a call)"};
}

}  // namespace

void planAttention(const FoundSite& found, const Value* self, const std::string& rootType,
                   const std::set<std::string>& trainable, SitePlan& plan) {
  auto chain = matchAttentionChain(found.anchor);
  if (!chain) {
    plan.reason = "its chain no longer matches";
    return;
  }
  bool beforeSoftmax = true;
  for (const Node* n : chain->nodes) {
    if (n == found.anchor) {
      beforeSoftmax = false;
      continue;
    }
    if (n->kind() == c10::aten::transpose) continue;
    auto& ops = beforeSoftmax ? plan.attention.opsBefore : plan.attention.opsAfter;
    ops.push_back(n->kind().toQualString());
    // A dropout module's code is its own; the attention's code calls it, which the rewrite removes.
    if (n != chain->dropout && nodeModule(n, rootType).path != found.site.modulePath) {
      plan.reason = "its " + std::string(n->kind().toQualString()) + " is in " +
                    nodeModule(n, rootType).path + ", not in the code of the softmax's module";
      return;
    }
  }
  plan.attention.masked = chain->mask != nullptr;
  // In forward order the chain starts with the transpose of k, or with q's scale when the scale is on q.
  const auto first = chain->nodes.front()->kind();
  plan.attention.scaledQ = first == c10::aten::mul || first == c10::aten::div;
  if (!chain->unsupported.empty()) {
    plan.reason = chain->unsupported;
    return;
  }
  if (chain->dropout) {
    const auto dropoutPath = nodeModule(chain->dropout, rootType).path;
    const bool inSiteCode = dropoutPath == found.site.modulePath;
    if (!inSiteCode) plan.attention.dropoutModule = dropoutPath;
    auto check = checkDropout(chain->dropout, inSiteCode);
    if (!check.problem.empty()) {
      plan.reason = check.problem;
      return;
    }
    plan.reason = check.note;
    plan.attention.dropout = !check.note.empty();
  }
  if (chain->mask) {
    std::set<const Node*> seen;
    if (auto p = trainableSource(chain->mask, self, trainable, seen); !p.empty()) {
      plan.attention.maskGrad = true;
      plan.reason +=
          (plan.reason.empty() ? "" : "; ") + std::string("its mask is computed from ") + p +
          " (trainable): the op passes the mask its gradient, the scores', as the chain's add does";
    }
  }
  plan.valid = true;
}

}  // namespace lowmem
