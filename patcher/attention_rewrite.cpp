#include "patcher/attention_rewrite.h"

#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include "patcher/attention_chain.h"
#include "patcher/inlined_graph.h"

namespace lowmem {
namespace {

using torch::jit::Node;
using torch::jit::Value;

// `self.<name>.forward(x)` where the submodule's forward returns aten::dropout of its input (nn.Dropout).
bool callsDropoutModule(const torch::jit::Module& holder, const Node* n) {
  if (n->kind() != c10::prim::CallMethod || n->s(c10::attr::name) != "forward" || n->inputs().size() != 2)
    return false;
  const Node* target = n->input(0)->node();
  if (target->kind() != c10::prim::GetAttr || target->input(0) != n->owningGraph()->inputs()[0]) return false;
  const auto name = target->s(c10::attr::name);
  if (!holder.hasattr(name) || !holder.attr(name).isModule()) return false;
  auto graph = inlinedForwardGraph(holder.attr(name).toModule());
  if (graph->outputs().size() != 1 || graph->inputs().size() != 2) return false;
  const Node* out = graph->outputs()[0]->node();
  return out->kind() == c10::aten::dropout && out->input(0) == graph->inputs()[1];
}

void collectSoftmaxes(torch::jit::Block* block, std::vector<Node*>& out) {
  for (Node* n : block->nodes()) {
    for (auto* inner : n->blocks())
      collectSoftmaxes(inner, out);
    if (n->kind() == c10::aten::softmax) out.push_back(n);
  }
}

// The op's `scale`: the chain's multiplier, 1/divisor, or 1 when it has none.
Value* scaleArgument(torch::jit::Graph& graph, const AttentionChain& c) {
  if (!c.scale) return graph.insertConstant(c10::IValue(1.0));
  if (auto iv = torch::jit::toIValue(c.scale)) {
    const double x = iv->isTensor() ? iv->toTensor().item<double>()
                     : iv->isInt()  ? static_cast<double>(iv->toInt())
                                    : iv->toDouble();
    return graph.insertConstant(c10::IValue(c.scaleDivides ? 1.0 / x : x));
  }
  Value* s = c.scale;
  if (s->type()->kind() == c10::TypeKind::NumberType) s = graph.insert(c10::aten::Float, {s});
  if (c.scaleDivides) return graph.insert(c10::aten::div, {graph.insertConstant(c10::IValue(1.0)), s});
  if (s->type()->kind() == c10::TypeKind::IntType)
    return graph.insert(c10::aten::mul, {graph.insertConstant(c10::IValue(1.0)), s});
  return s;
}

// Reads of the scores' dtype or device (GPT-2's `torch.tensor(-1e4, dtype=w.dtype, device=w.device)`) would
// keep the chain computing them: they read q's instead, which the scores share up to the chain's first cast.
void readMetadataFromQ(const AttentionChain& c) {
  for (Node* n : c.nodes) {
    if (n->kind() == c10::aten::softmax || n->kind() == c10::aten::to || n->kind() == c10::aten::type_as)
      break;
    for (Value* out : n->outputs()) {
      const auto uses = out->uses();
      for (const auto& use : uses) {
        if (use.user->kind() == c10::prim::dtype || use.user->kind() == c10::prim::device)
          use.user->replaceInput(use.offset, c.q);
      }
    }
  }
}

void replaceChain(const AttentionChain& c) {
  auto& graph = *c.output->owningGraph();
  Value* o = nullptr;
  {
    torch::jit::WithInsertPoint guard(c.output);
    Value* scale = scaleArgument(graph, c);
    // The op's boolean mask is true where keys take part, as SDPA's.
    static const auto logicalNot = c10::Symbol::fromQualString("aten::logical_not");
    Value* mask = !c.mask       ? graph.insertConstant(c10::IValue())
                  : c.maskDrops ? graph.insert(logicalNot, {c.mask})
                                : c.mask;
    static const auto op = c10::Symbol::fromQualString("lowmem::attention");
    o = graph.insert(op, {c.q, c.k, c.v, mask, scale, graph.insertConstant(c10::IValue(false))});
  }
  o->setType(c.output->output()->type());
  c.output->output()->replaceAllUsesWith(o);
  readMetadataFromQ(c);
  // Last to first, each once nothing reads it: a dropout module's call is not dead code to the JIT.
  for (auto it = c.nodes.rbegin(); it != c.nodes.rend(); ++it) {
    bool used = false;
    for (const Value* out : (*it)->outputs())
      used = used || out->hasUses();
    if (!used) (*it)->destroy();
  }
}

}  // namespace

int rewriteAttentionChains(const torch::jit::Module& holder, std::shared_ptr<torch::jit::Graph>& graph) {
  const auto isDropoutCall = [&holder](const Node* n) { return callsDropoutModule(holder, n); };
  std::vector<AttentionChain> chains;
  std::vector<Node*> softmaxes;
  collectSoftmaxes(graph->block(), softmaxes);
  for (Node* n : softmaxes) {
    auto chain = matchAttentionChain(n, isDropoutCall);
    if (chain && chain->unsupported.empty()) chains.push_back(std::move(*chain));
  }
  for (const auto& c : chains)
    replaceChain(c);
  if (!chains.empty()) torch::jit::EliminateDeadCode(graph);
  return static_cast<int>(chains.size());
}

}  // namespace lowmem
