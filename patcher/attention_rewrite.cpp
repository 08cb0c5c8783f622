#include "patcher/attention_rewrite.h"

#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <unordered_map>

#include "patcher/inlined_graph.h"

namespace lowmem {
namespace {

using torch::jit::Node;
using torch::jit::Value;

// The aten::dropout that `self.<name>.forward(x)` returns of its input (nn.Dropout), in the submodule's own
// inlined graph (kept alive by `graph`); nullptr when the call is not of such a module.
const Node* calledDropout(const torch::jit::Module& holder, const Node* n,
                          std::shared_ptr<torch::jit::Graph>& graph) {
  if (n->kind() != c10::prim::CallMethod || n->s(c10::attr::name) != "forward" || n->inputs().size() != 2)
    return nullptr;
  const Node* target = n->input(0)->node();
  if (target->kind() != c10::prim::GetAttr || target->input(0) != n->owningGraph()->inputs()[0])
    return nullptr;
  const auto name = target->s(c10::attr::name);
  if (!holder.hasattr(name) || !holder.attr(name).isModule()) return nullptr;
  graph = inlinedForwardGraph(holder.attr(name).toModule());
  if (graph->outputs().size() != 1 || graph->inputs().size() != 2) return nullptr;
  const Node* out = graph->outputs()[0]->node();
  return out->kind() == c10::aten::dropout && out->input(0) == graph->inputs()[1] ? out : nullptr;
}

bool callsDropoutModule(const torch::jit::Module& holder, const Node* n) {
  std::shared_ptr<torch::jit::Graph> graph;
  return calledDropout(holder, n, graph) != nullptr;
}

// A dropout module's argument in the caller's graph: its constant, or its attribute read off the module the
// call is on; nullptr otherwise.
Value* inCaller(torch::jit::Graph& graph, const Value* arg, const Node* call) {
  if (auto iv = torch::jit::toIValue(arg)) return graph.insertConstant(*iv);
  const Node* n = arg->node();
  if (n->kind() == c10::prim::GetAttr && n->input(0) == n->owningGraph()->inputs()[0])
    return graph.insertGetAttr(call->input(0), n->s(c10::attr::name));
  return nullptr;
}

// p · float(training), or p or 0 where training is a constant. A constant defined in a branch the value
// leaves is inserted again here.
Value* probabilityWhileTraining(torch::jit::Graph& graph, Value* p, Value* train) {
  if (auto iv = torch::jit::toIValue(p)) p = graph.insertConstant(*iv);
  if (p->type()->kind() == c10::TypeKind::IntType) p = graph.insert(c10::aten::Float, {p});
  if (auto t = torch::jit::toIValue(train); t && t->isBool())
    return t->toBool() ? p : graph.insertConstant(c10::IValue(0.0));
  return graph.insert(c10::aten::mul, {p, graph.insert(c10::aten::Float, {train})});
}

// A dropout run under an If (`if dropout_p > 0.0: attn = dropout(attn, dropout_p)`): its probability on the
// branch that drops, 0 on the other.
Value* gatedProbability(torch::jit::Graph& graph, const AttentionChain& c) {
  Node* choice = graph.insertNode(graph.create(c10::prim::If, {c.dropoutGate->input(0)}, 1));
  choice->output()->setType(c10::FloatType::get());
  const bool firstDrops = c.dropoutGate->blocks()[0] == c.dropout->owningBlock();
  for (int b = 0; b < 2; ++b) {
    torch::jit::Block* block = choice->addBlock();
    torch::jit::WithInsertPoint guard(block);
    block->registerOutput((b == 0) == firstDrops
                              ? probabilityWhileTraining(graph, c.dropout->input(1), c.dropout->input(2))
                              : graph.insertConstant(c10::IValue(0.0)));
  }
  return choice->output();
}

// The op's dropout_p: the chain's probability where its dropout is in training mode (p · float(training)
// when that is known only at run time, as nn.Dropout's `self.training`), 0 without a dropout. nullptr when a
// dropout module's probability cannot be read from the caller.
Value* dropoutArgument(const torch::jit::Module& holder, torch::jit::Graph& graph, const AttentionChain& c) {
  if (!c.dropout) return graph.insertConstant(c10::IValue(0.0));
  if (c.dropoutGate) return gatedProbability(graph, c);
  Value *p = nullptr, *train = nullptr;
  if (c.dropout->kind() == c10::aten::dropout) {
    p = c.dropout->input(1);
    train = c.dropout->input(2);
  } else {
    std::shared_ptr<torch::jit::Graph> callee;
    const Node* inner = calledDropout(holder, c.dropout, callee);
    if (!inner) return nullptr;
    p = inCaller(graph, inner->input(1), c.dropout);
    train = inCaller(graph, inner->input(2), c.dropout);
    if (!p || !train) return nullptr;
  }
  return probabilityWhileTraining(graph, p, train);
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

// A window mask's arguments: the op's mask and the two sizes the scores' batch is split into.
struct WindowArguments {
  Value* mask = nullptr;
  Value* images = nullptr;
  Value* windows = nullptr;
};

// Where the window mask is added (at the insertion point): that mask plus the chain's other one, and the
// split view's first two sizes.
WindowArguments addedWindow(torch::jit::Graph& graph, const AttentionChain& c) {
  WindowArguments w;
  w.mask = c.mask ? graph.insert(c10::aten::add, {c.windowMask, c.mask}) : c.windowMask;
  w.images = graph.insert(c10::aten::__getitem__, {c.windowSizes, graph.insertConstant(c10::IValue(0))});
  w.windows = graph.insert(c10::aten::__getitem__, {c.windowSizes, graph.insertConstant(c10::IValue(1))});
  return w;
}

// The window mask's arguments for the op. Under an If (scripted Swin adds it in shifted blocks only) the If
// gives them instead of the scores: the added mask and the split in the branch that adds it; the other mask
// (or None), q's batch and 1 window in the other, so both kinds of block run one op call.
WindowArguments windowArguments(torch::jit::Graph& graph, const AttentionChain& c) {
  if (!c.windowGate) return addedWindow(graph, c);
  Node* gate = c.windowGate;
  for (torch::jit::Block* block : gate->blocks()) {
    torch::jit::WithInsertPoint guard(block->return_node());
    WindowArguments w;
    if (block == c.windowNodes.front()->owningBlock()) {
      w = addedWindow(graph, c);
    } else {
      w.mask = c.mask ? c.mask : graph.insertConstant(c10::IValue());
      w.images = graph.insert(c10::aten::size, {c.q, graph.insertConstant(c10::IValue(0))});
      w.windows = graph.insertConstant(c10::IValue(1));
    }
    for (Value* v : {w.mask, w.images, w.windows})
      block->registerOutput(v);
  }
  WindowArguments out;
  out.mask =
      gate->addOutput()->setType(c.mask ? c.mask->type() : c10::OptionalType::create(c10::TensorType::get()));
  out.images = gate->addOutput()->setType(c10::IntType::get());
  out.windows = gate->addOutput()->setType(c10::IntType::get());
  return out;
}

// The If of a window mask no longer gives the scores: its first output goes, and what computed it in the
// branches with it (dead code).
void dropWindowScores(Node* gate) {
  for (torch::jit::Block* block : gate->blocks())
    block->eraseOutput(0);
  gate->eraseOutput(0);
}

// lowmem::attention on the chain's operands, inserted at the graph's insertion point; nullptr when its
// dropout probability cannot be passed. With a window mask, q, k and v are viewed with their batch split as
// the scores were ([B·nW, ...] as [B, nW, ...]), so the mask over the windows broadcasts over the images, and
// the output is viewed back.
Value* insertOp(const torch::jit::Module& holder, torch::jit::Graph& graph, const AttentionChain& c) {
  Value* dropout = dropoutArgument(holder, graph, c);
  if (!dropout) return nullptr;
  Value* scale = scaleArgument(graph, c);
  // The op's boolean mask is true where keys take part, as SDPA's; an Optional mask is passed as it is.
  static const auto logicalNot = c10::Symbol::fromQualString("aten::logical_not");
  Value *q = c.q, *k = c.k, *v = c.v, *mask = nullptr, *split = nullptr;
  if (!c.windowMask) {
    mask = !c.mask       ? graph.insertConstant(c10::IValue())
           : c.maskDrops ? graph.insert(logicalNot, {c.mask})
                         : c.mask;
  } else {
    // The matcher leaves a window mask with an additive mask only: their sum, no negation.
    const auto w = windowArguments(graph, c);
    mask = w.mask;
    static const auto unflatten = c10::Symbol::fromQualString("aten::unflatten");
    split = graph.insertNode(graph.createList(c10::IntType::get(), {w.images, w.windows}))->output();
    Value* first = graph.insertConstant(c10::IValue(0));
    q = graph.insert(unflatten, {q, first, split});
    k = graph.insert(unflatten, {k, first, split});
    v = graph.insert(unflatten, {v, first, split});
  }
  static const auto op = c10::Symbol::fromQualString("lowmem::attention");
  Value* o = graph.insert(op, {q, k, v, mask, scale, graph.insertConstant(c10::IValue(false)), dropout});
  if (split) {
    o = graph.insert(c10::aten::flatten,
                     {o, graph.insertConstant(c10::IValue(0)), graph.insertConstant(c10::IValue(1))});
  }
  o->setType(c.output->output()->type());
  return o;
}

// Where the code returns the probabilities on a condition (nn.MultiheadAttention's `need_weights`), the
// chain stays for that case: `if cond: o, p = <the chain> else: o, p = lowmem::attention(...), None`, and the
// readers of p take it refined to a tensor, as they run only when cond holds. Returns o.
Value* insertChoice(const torch::jit::Module& holder, torch::jit::Graph& graph, const AttentionChain& c) {
  Node* choice = graph.insertNode(graph.create(c10::prim::If, {c.returnedWhen}, 2));
  torch::jit::Block* chain = choice->addBlock();
  std::unordered_map<Value*, Value*> copies;
  for (Node* n : c.nodes) {
    Node* copy = chain->appendNode(graph.createClone(n, [&](Value* v) {
      auto it = copies.find(v);
      return it == copies.end() ? v : it->second;
    }));
    for (size_t i = 0; i < n->outputs().size(); ++i)
      copies[n->output(i)] = copy->output(i);
  }
  chain->registerOutput(copies.at(c.output->output()));
  chain->registerOutput(copies.at(c.probabilities));
  torch::jit::Block* swapped = choice->addBlock();
  {
    torch::jit::WithInsertPoint guard(swapped);
    Value* o = insertOp(holder, graph, c);
    if (!o) {
      choice->destroy();
      return nullptr;
    }
    swapped->registerOutput(o);
    swapped->registerOutput(graph.insertConstant(c10::IValue()));
  }
  choice->output(0)->setType(c.output->output()->type());
  choice->output(1)->setType(c10::OptionalType::create(c.probabilities->type()));
  for (const auto& use : c.returnedUses) {
    Node* refined = graph.create(c10::prim::unchecked_cast, {choice->output(1)});
    refined->output()->setType(c.probabilities->type());
    refined->insertBefore(use.user);
    use.user->replaceInput(use.offset, refined->output());
  }
  return choice->output(0);
}

bool replaceChain(const torch::jit::Module& holder, const AttentionChain& c) {
  auto& graph = *c.output->owningGraph();
  Value* o = nullptr;
  {
    torch::jit::WithInsertPoint guard(c.output);
    o = c.returnedWhen ? insertChoice(holder, graph, c) : insertOp(holder, graph, c);
  }
  if (!o) return false;
  c.output->output()->replaceAllUsesWith(o);
  readMetadataFromQ(c);
  // Last to first, each once nothing reads it: a dropout module's call is not dead code to the JIT.
  for (auto it = c.nodes.rbegin(); it != c.nodes.rend(); ++it) {
    if (*it == c.windowGate) {
      dropWindowScores(*it);
      continue;
    }
    bool used = false;
    for (const Value* out : (*it)->outputs())
      used = used || out->hasUses();
    if (!used) (*it)->destroy();
  }
  return true;
}

}  // namespace

std::vector<AttentionChain> ownAttentionChains(const torch::jit::Module& holder, torch::jit::Graph& graph) {
  const auto isDropoutCall = [&holder](const Node* n) { return callsDropoutModule(holder, n); };
  std::vector<AttentionChain> chains;
  std::vector<Node*> softmaxes;
  collectSoftmaxes(graph.block(), softmaxes);
  for (Node* n : softmaxes) {
    auto chain = matchAttentionChain(n, isDropoutCall, /*allowReturned=*/true);
    if (chain && chain->unsupported.empty()) chains.push_back(std::move(*chain));
  }
  return chains;
}

int rewriteAttentionChains(const torch::jit::Module& holder, std::shared_ptr<torch::jit::Graph>& graph) {
  const auto chains = ownAttentionChains(holder, *graph);
  int replaced = 0;
  for (const auto& c : chains)
    replaced += replaceChain(holder, c) ? 1 : 0;
  if (!chains.empty()) torch::jit::EliminateDeadCode(graph);
  return replaced;
}

}  // namespace lowmem
