#include "patcher/attention_plan.h"

#include <torch/csrc/jit/ir/ir.h>

#include <algorithm>
#include <set>

#include "patcher/attention_chain.h"
#include "patcher/attention_rewrite.h"
#include "patcher/inlined_graph.h"
#include "patcher/module_paths.h"

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

// The values a dropout probability can take: a constant's, or those of the branches of an If choosing among
// constants (F.multi_head_attention_forward's `dropout_p = 0.0 if not training else self.dropout`, the
// attribute a constant to the analysis); empty when one is not known before the step runs.
std::vector<double> possibleValues(const Value* v) {
  if (auto iv = torch::jit::toIValue(v)) {
    if (iv->isDouble()) return {iv->toDouble()};
    if (iv->isInt()) return {static_cast<double>(iv->toInt())};
    return {};
  }
  const Node* n = v->node();
  if (n->kind() != c10::prim::If) return {};
  std::vector<double> values;
  for (const auto* block : n->blocks()) {
    const auto inner = possibleValues(block->outputs()[v->offset()]);
    if (inner.empty()) return {};
    values.insert(values.end(), inner.begin(), inner.end());
  }
  return values;
}

DropoutCheck checkDropout(const Node* dropout, bool inSiteCode) {
  auto p = torch::jit::toIValue(dropout->input(1));
  auto train = torch::jit::toIValue(dropout->input(2));
  if (train && train->isBool() && !train->toBool()) return {};
  if (p && !(p->isDouble() || p->isInt())) return {"its dropout probability is not a number", ""};
  const auto values = possibleValues(dropout->input(1));
  if (values.empty() && !inSiteCode)
    return {"its dropout module's probability is not a constant (nn.Dropout's is)", ""};
  const double prob = values.empty() ? -1 : *std::max_element(values.begin(), values.end());
  if (prob == 0) return {};
  const std::string rate = prob < 0 ? "the module's probability" : "p=" + c10::str(prob);
  return {"",
          "drops probabilities inside the op (" + rate +
              "; aten::dropout's distribution, a Philox stream seeded from torch's CPU generator a call)"};
}

// The tensor ops a chain node runs, as a trace names them: its own, or for an If of the chain (the mask's
// choice, a dropout's gate) those of its branches. Views and refinements are left out: nothing to find.
void tensorOps(const Node* n, std::vector<std::string>& ops) {
  for (const auto* block : n->blocks()) {
    for (const Node* inner : block->nodes())
      tensorOps(inner, ops);
  }
  if (n->kind() == c10::aten::transpose || n->kind().is_prim()) return;
  for (const Value* out : n->outputs()) {
    if (out->type()->cast<c10::TensorType>()) {
      ops.push_back(n->kind().toQualString());
      return;
    }
  }
}

// Where the probabilities a module's code returns can go: the indices of its forward's results (tuples taken
// apart) they flow into, through any op and any branch's result; every result when they reach a container or
// an attribute, whose readers cannot be followed.
std::set<size_t> reachedResults(const torch::jit::Graph& graph, const std::vector<torch::jit::Use>& uses) {
  std::set<size_t> reached;
  bool everything = false;
  std::vector<const Value*> work;
  std::set<const Value*> seen;
  const auto follow = [&](const Node* user, size_t offset) {
    const auto kind = user->kind();
    if (kind == c10::prim::SetAttr || kind == c10::prim::ListConstruct || kind == c10::prim::DictConstruct ||
        kind == c10::aten::append || kind == c10::aten::_set_item || kind == c10::aten::insert) {
      everything = true;
      return;
    }
    if (kind == c10::prim::Return) {
      const Node* owner = user->owningBlock()->owningNode();
      if (!owner) {
        reached.insert(offset);
      } else if (owner->kind() == c10::prim::If) {
        if (seen.insert(owner->output(offset)).second) work.push_back(owner->output(offset));
      } else {
        everything = true;
      }
      return;
    }
    for (const Value* out : user->outputs()) {
      if (seen.insert(out).second) work.push_back(out);
    }
  };
  for (const auto& use : uses)
    follow(use.user, use.offset);
  while (!work.empty() && !everything) {
    const Value* v = work.back();
    work.pop_back();
    for (const auto& use : v->uses())
      follow(use.user, use.offset);
  }
  if (everything) {
    for (size_t i = 0; i < graph.outputs().size(); ++i)
      reached.insert(i);
  }
  return reached;
}

// The rewrite edits the module's own code, which the whole model's analysis sees specialised to its calls.
// There the probabilities may also be returned: always (a traced module that computed the weights it
// returns), or when an argument asks for them (nn.MultiheadAttention's `need_weights`), in which case the
// rewritten code keeps the chain for those calls. A call that passes false runs the op; one that passes true
// but drops what the probabilities reach (`self_attn(q, k, v)[0]`, DETR's) is made to pass false; any other
// keeps the site as it is.
struct OwnCodeCheck {
  std::string problem;
  std::vector<std::string> askingCallers;
  int askArgument = -1;
  std::string askName;
};

OwnCodeCheck checkOwnCode(const torch::jit::Module& root, const std::string& path,
                          const std::vector<InlinedCall>& calls) {
  OwnCodeCheck out;
  if (path.empty()) return out;
  const auto holder = submoduleAt(root, path);
  auto graph = holder.get_method("forward").graph()->copy();
  inlineOwnCode(graph);
  foldInstanceConfiguration(graph, holder);
  // Results as the callers' reads number them: tuples taken apart (where no argument is one, which would
  // renumber the arguments).
  bool tupleArgument = false;
  for (const Value* in : graph->inputs())
    tupleArgument = tupleArgument || in->type()->cast<c10::TupleType>();
  if (!tupleArgument) takeTuplesApart(graph);
  const auto chains = ownAttentionChains(holder, *graph);
  if (chains.empty()) {
    out.problem =
        "its module's own code reads the probabilities elsewhere too (returns or keeps them): the op "
        "does not form them";
    return out;
  }
  for (const auto& chain : chains) {
    if (!chain.returnedWhen) continue;
    const auto inputs = graph->inputs();
    const auto at = std::find(inputs.begin(), inputs.end(), chain.returnedWhen);
    if (at == inputs.end()) {
      out.problem =
          "its code returns the probabilities under a condition it computes: the op does not form them";
      return out;
    }
    const auto index = static_cast<size_t>(at - inputs.begin()) - 1;
    const std::string name = chain.returnedWhen->debugNameBase();
    const auto reached = reachedResults(*graph, chain.returnedUses);
    bool called = false;
    for (const auto& call : calls) {
      if (call.path != path) continue;
      called = true;
      const auto& arg = index < call.arguments.size() ? call.arguments[index] : std::nullopt;
      if (arg && arg->isBool() && !arg->toBool()) continue;
      bool readsThem = call.elementsRead.empty() && !reached.empty();
      for (const size_t r : reached)
        readsThem = readsThem || r >= call.elementsRead.size() || call.elementsRead[r];
      if (arg && arg->isBool() && !readsThem) {
        out.askingCallers.push_back(call.caller);
        out.askArgument = static_cast<int>(index);
        out.askName = name;
        continue;
      }
      out.problem =
          "its code returns the probabilities when `" + name + "` is true, and a call passes " +
          (arg ? std::string("true and reads them") : std::string("a value not known before it runs")) +
          ": the op does not form them (pass " + name + "=False where they are not used)";
      return out;
    }
    if (!called) {
      out.problem =
          "its code returns the probabilities when `" + name + "` is true; no call of it was found to tell";
      return out;
    }
  }
  return out;
}

}  // namespace

void planAttention(const FoundSite& found, const Value* self, const std::string& rootType,
                   const std::set<std::string>& trainable, const AttentionCallers& callers, SitePlan& plan) {
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
    // A window mask's If computes the mask too: of its ops only the chain's are the chain's.
    if (n == chain->windowGate) {
      for (const Node* w : chain->windowNodes)
        tensorOps(w, plan.attention.opsBefore);
      continue;
    }
    tensorOps(n, beforeSoftmax ? plan.attention.opsBefore : plan.attention.opsAfter);
    // A dropout module's code is its own; the attention's code calls it, which the rewrite removes.
    if (n != chain->dropout && nodeModule(n, rootType).path != found.site.modulePath) {
      plan.reason = "its " + std::string(n->kind().toQualString()) + " is in " +
                    nodeModule(n, rootType).path + ", not in the code of the softmax's module";
      return;
    }
  }
  plan.attention.masked = chain->mask != nullptr || chain->windowMask != nullptr;
  plan.attention.windowMask = chain->windowMask != nullptr;
  const auto own = checkOwnCode(callers.root, found.site.modulePath, callers.calls);
  if (!own.problem.empty()) {
    plan.reason = own.problem;
    return;
  }
  plan.attention.askingCallers = own.askingCallers;
  plan.attention.askArgument = own.askArgument;
  plan.attention.askName = own.askName;
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
  for (const Value* mask : {chain->mask, chain->windowMask}) {
    std::set<const Node*> seen;
    if (!mask || plan.attention.maskGrad) continue;
    if (auto p = trainableSource(mask, self, trainable, seen); !p.empty()) {
      plan.attention.maskGrad = true;
      plan.reason +=
          (plan.reason.empty() ? "" : "; ") + std::string("its mask is computed from ") + p +
          " (trainable): the op passes the mask its gradient, the scores', as the chain's add does";
    }
  }
  if (chain->windowMask) {
    plan.reason += (plan.reason.empty() ? "" : "; ") +
                   std::string("where its window mask is added, the op takes it ") +
                   (chain->mask ? "plus its other mask as one tensor" : "as it is") +
                   ", q, k and v viewed with their batch split as the scores are";
  }
  if (!plan.attention.askingCallers.empty()) {
    std::set<std::string> callers(plan.attention.askingCallers.begin(), plan.attention.askingCallers.end());
    std::string where;
    for (const auto& c : callers)
      where += (where.empty() ? "" : ", ") + (c.empty() ? std::string("the root") : c);
    plan.reason += (plan.reason.empty() ? "" : "; ") + std::string("the call in ") + where + " passes " +
                   plan.attention.askName +
                   "=True and drops what it returns for it: the rewrite passes False";
  }
  plan.valid = true;
}

}  // namespace lowmem
