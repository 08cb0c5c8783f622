#include "patcher/inlined_graph.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/passes/constant_pooling.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/csrc/jit/passes/lower_tuples.h>
#include <torch/csrc/jit/passes/peephole.h>

#include <deque>
#include <stdexcept>

#include "patcher/module_paths.h"

namespace lowmem {
namespace {

using torch::jit::Node;
using torch::jit::Value;

const c10::Symbol kPathAttr = c10::Symbol::attr("lowmem_module_path");
const c10::Symbol kTypeAttr = c10::Symbol::attr("lowmem_module_type");

std::string className(const c10::ClassTypePtr& type) {
  return type && type->name() ? type->name()->name() : "?";
}

Node* firstCall(torch::jit::Block* block) {
  for (Node* node : block->nodes()) {
    if (node->kind() == c10::prim::CallMethod || node->kind() == c10::prim::CallFunction) return node;
    for (auto* inner : node->blocks()) {
      if (Node* call = firstCall(inner)) return call;
    }
  }
  return nullptr;
}

void tag(Node* node, const std::string& path, const std::string& type) {
  if (node->hasAttribute(kPathAttr)) return;
  node->s_(kPathAttr, path);
  node->s_(kTypeAttr, type);
  for (auto* inner : node->blocks()) {
    for (Node* n : inner->nodes())
      tag(n, path, type);
  }
}

// The instance a call's target is: the whole GetAttr chain from the root's self; when the chain starts
// elsewhere (a module taken from a container value), the caller's path and the last attribute name.
std::string instancePath(const Value* target, const Value* rootSelf, const NodeModule& caller) {
  if (auto path = attributePath(target, rootSelf)) return *path;
  if (target == rootSelf) return "";
  if (target->node()->kind() != c10::prim::GetAttr) return caller.path;
  return joinPath(caller.path, target->node()->s(c10::attr::name));
}

// Which elements of a call's tuple result its caller reads: by a constant index, or as TupleUnpack's outputs
// that have uses; every element where the tuple itself goes elsewhere. Empty for a result that is no tuple.
std::vector<bool> elementsRead(const Node* call) {
  const auto tuple = call->output()->type()->cast<c10::TupleType>();
  if (!tuple) return {};
  const size_t count = tuple->elements().size();
  std::vector<bool> read(count, false);
  for (const auto& use : call->output()->uses()) {
    const Node* u = use.user;
    const auto index = u->kind() == c10::prim::TupleIndex ? torch::jit::toIValue(u->input(1)) : c10::nullopt;
    if (index && index->isInt() && index->toInt() >= 0 && static_cast<size_t>(index->toInt()) < count) {
      const auto i = static_cast<size_t>(index->toInt());
      read[i] = read[i] || u->output()->hasUses();
    } else if (u->kind() == c10::prim::TupleUnpack && u->outputs().size() == count) {
      for (size_t i = 0; i < count; ++i)
        read[i] = read[i] || u->output(i)->hasUses();
    } else {
      read.assign(count, true);
    }
  }
  return read;
}

// Inlines `call` from the callee's own graph and tags the nodes it brought in with the callee's instance.
void inlineOne(Node* call, const Value* rootSelf, const std::string& rootType,
               std::vector<InlinedCall>* calls) {
  const NodeModule caller = nodeModule(call, rootType);
  NodeModule callee = caller;
  if (call->kind() == c10::prim::CallMethod) {
    auto cls = call->input(0)->type()->expect<c10::ClassType>();
    callee = {instancePath(call->input(0), rootSelf, caller), className(cls)};
    if (calls && call->s(c10::attr::name) == "forward") {
      InlinedCall record{callee.path, caller.path, {}, elementsRead(call)};
      for (size_t i = 1; i < call->inputs().size(); ++i) {
        const auto constant = torch::jit::toIValue(call->input(i));
        record.arguments.push_back(constant ? std::optional<c10::IValue>(*constant) : std::nullopt);
      }
      calls->push_back(std::move(record));
    }
  }
  Node* before = call->prev();
  Node* after = call->next();
  inlineFromOwnGraph(call);
  for (Node* n = before->next(); n != after; n = n->next())
    tag(n, callee.path, callee.type);
}

// One value under two names: the same SSA value, or two outputs of one `if` that every branch gives the same
// value (`query = key = value = query.transpose(1, 0)` in nn.MultiheadAttention).
bool sameValue(const Value* a, const Value* b, int depth = 0) {
  if (a == b) return true;
  const Node* n = a->node();
  if (depth > 8 || n != b->node() || n->kind() != c10::prim::If) return false;
  for (const auto* block : n->blocks()) {
    if (!sameValue(block->outputs()[a->offset()], block->outputs()[b->offset()], depth + 1)) return false;
  }
  return true;
}

// `a is a` and `a is not a` on one value, and `t is None` for a tensor that cannot be None: known without
// running. nn.MultiheadAttention branches on `query is key` and `key is value`.
bool holdsTensor(const Value* v, const torch::jit::Module& root, const Value* self) {
  if (v->type()->kind() == c10::TypeKind::TensorType) return true;
  auto path = attributePath(v, self);
  if (!path) return false;
  auto value = attributeAt(root, *path);
  return value && value->isTensor();
}

bool foldIdentityTests(torch::jit::Block* block, const torch::jit::Module& root, const Value* self) {
  bool changed = false;
  for (Node* node : block->nodes()) {
    for (auto* inner : node->blocks())
      changed |= foldIdentityTests(inner, root, self);
    const bool is = node->kind() == c10::aten::__is__;
    if (!is && node->kind() != c10::aten::__isnot__) continue;
    const Value* a = node->input(0);
    const Value* b = node->input(1);
    c10::optional<bool> same;
    if (sameValue(a, b)) {
      same = true;
    } else if ((a->mustBeNone() && holdsTensor(b, root, self)) ||
               (b->mustBeNone() && holdsTensor(a, root, self))) {
      same = false;
    }
    if (!same || node->output()->uses().empty()) continue;
    torch::jit::WithInsertPoint guard(node);
    node->output()->replaceAllUsesWith(node->owningGraph()->insertConstant(is ? *same : !*same));
    changed = true;
  }
  return changed;
}

bool isSetAnywhere(const torch::jit::Block* block, const std::string& name) {
  for (const Node* n : block->nodes()) {
    if (n->kind() == c10::prim::SetAttr && n->s(c10::attr::name) == name) return true;
    for (const auto* inner : n->blocks()) {
      if (isSetAnywhere(inner, name)) return true;
    }
  }
  return false;
}

// Module attributes of plain types (bool, int, float, str, None) that forward never sets are the instance's
// configuration (nn.MultiheadAttention's `_qkv_same_embed_dim`, `batch_first`): constants for this analysis,
// so the branches they rule out are gone. `training` stays a variable: the inference paths it guards run on
// the patched model too.
void foldModuleConstants(torch::jit::Block* block, const torch::jit::Module& root, const Value* self,
                         const torch::jit::Block* top) {
  for (Node* n : block->nodes()) {
    for (auto* inner : n->blocks())
      foldModuleConstants(inner, root, self, top);
    if (n->kind() != c10::prim::GetAttr || n->s(c10::attr::name) == "training") continue;
    auto path = attributePath(n->output(), self);
    if (!path) continue;
    auto value = attributeAt(root, *path);
    if (!value ||
        !(value->isBool() || value->isInt() || value->isDouble() || value->isString() || value->isNone()))
      continue;
    if (isSetAnywhere(top, n->s(c10::attr::name))) continue;
    torch::jit::WithInsertPoint guard(n);
    Value* constant = n->owningGraph()->insertConstant(*value);
    if (!value->isNone()) constant->setType(n->output()->type());
    n->output()->replaceAllUsesWith(constant);
  }
}

}  // namespace

void inlineFromOwnGraph(Node* call) {
  torch::jit::Function* fn = nullptr;
  if (call->kind() == c10::prim::CallFunction) {
    fn = call->input(0)->type()->expectRef<c10::FunctionType>().function();
    call->removeInput(0);  // the function constant: the callee's graph takes the arguments alone
  } else {
    fn = &call->input(0)->type()->expectRef<c10::ClassType>().getMethod(call->s(c10::attr::name));
  }
  auto& graphFn = torch::jit::toGraphFunction(*fn);
  // The callee's own graph, not its optimized one: that would carry the interpreter's call stacks, whose
  // instance names lack the containers' (ModuleList, ModuleDict) attribute names.
  torch::jit::inlineCallTo(call, &graphFn, graphFn.graph().get());
}

std::optional<std::string> attributePath(const Value* v, const Value* self) {
  // `assert w is not None` refines an Optional attribute's type: the same value.
  while (v->node()->kind() == c10::prim::unchecked_cast)
    v = v->node()->input(0);
  std::deque<std::string> names;
  while (v->node()->kind() == c10::prim::GetAttr) {
    names.push_front(v->node()->s(c10::attr::name));
    v = v->node()->input(0);
  }
  if (v != self || names.empty()) return std::nullopt;
  std::string path;
  for (const auto& n : names)
    path = joinPath(path, n);
  return path;
}

namespace {

// A free function call, or a call of the module's own other method, in `block`; nullptr when none.
Node* ownCall(torch::jit::Block* block, const Value* self) {
  for (Node* n : block->nodes()) {
    if (n->kind() == c10::prim::CallFunction || (n->kind() == c10::prim::CallMethod && n->input(0) == self))
      return n;
    for (auto* inner : n->blocks()) {
      if (Node* call = ownCall(inner, self)) return call;
    }
  }
  return nullptr;
}

}  // namespace

bool takeTuplesApart(std::shared_ptr<torch::jit::Graph>& graph) {
  auto untupled = graph->copy();
  try {
    torch::jit::LowerAllTuples(untupled);
  } catch (const std::exception&) {
    return false;
  }
  graph = untupled;
  return true;
}

bool inlineOwnCode(std::shared_ptr<torch::jit::Graph>& graph) {
  bool any = false;
  while (Node* n = ownCall(graph->block(), graph->inputs()[0])) {
    inlineFromOwnGraph(n);
    any = true;
  }
  if (any) torch::jit::ConstantPropagationImmutableTypes(graph);
  return any;
}

void foldInstanceConfiguration(std::shared_ptr<torch::jit::Graph>& graph,
                               const torch::jit::Module& instance) {
  foldModuleConstants(graph->block(), instance, graph->inputs()[0], graph->block());
  torch::jit::ConstantPropagationImmutableTypes(graph);
  torch::jit::EliminateDeadCode(graph);
}

std::shared_ptr<torch::jit::Graph> inlinedForwardGraph(const torch::jit::Module& module,
                                                       std::vector<InlinedCall>* calls) {
  const auto rootType = className(module.type());
  auto graph = module.get_method("forward").graph()->copy();
  for (Node* n : graph->nodes())
    tag(n, "", rootType);
  const Value* self = graph->inputs()[0];
  // A model nested deeper than this many calls is not a real model.
  for (int inlined = 0; inlined < 1000000; ++inlined) {
    Node* call = firstCall(graph->block());
    if (!call) break;
    inlineOne(call, self, rootType, calls);
  }
  if (firstCall(graph->block())) throw std::runtime_error("forward graph still has calls after inlining");
  // What the graph executor does to each method before running it, then the identity folds and what they
  // make constant.
  foldModuleConstants(graph->block(), module, self, graph->block());
  torch::jit::LowerSimpleTuples(graph);
  torch::jit::PeepholeOptimize(graph);
  torch::jit::ConstantPropagationImmutableTypes(graph);
  for (int round = 0; round < 4 && foldIdentityTests(graph->block(), module, self); ++round) {
    torch::jit::ConstantPropagationImmutableTypes(graph);
    torch::jit::EliminateDeadCode(graph);
  }
  // Tuples that branches return (nn.MultiheadAttention's `(output, weights)`, of which callers take [0]) are
  // taken apart too, so what a caller drops is dead. Where some tuple cannot be (a dynamic index), the graph
  // keeps them all but the simple ones.
  if (!takeTuplesApart(graph)) torch::jit::LowerSimpleTuples(graph);
  torch::jit::ConstantPooling(graph);
  torch::jit::EliminateDeadCode(graph);
  return graph;
}

NodeModule nodeModule(const Node* node, const std::string& rootType) {
  if (!node->hasAttribute(kPathAttr)) return {"", rootType};
  return {node->s(kPathAttr), node->s(kTypeAttr)};
}

}  // namespace lowmem
