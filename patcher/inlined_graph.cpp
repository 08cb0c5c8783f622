#include "patcher/inlined_graph.h"

#include <torch/csrc/jit/ir/graph_node_list.h>
#include <torch/csrc/jit/passes/inliner.h>

#include <stdexcept>

#include "profiler/executor_mode.h"

namespace lowmem {
namespace {

bool hasCalls(torch::jit::Block* block) {
  for (auto* node : block->nodes()) {
    if (node->kind() == c10::prim::CallMethod || node->kind() == c10::prim::CallFunction) return true;
    for (auto* inner : node->blocks()) {
      if (hasCalls(inner)) return true;
    }
  }
  return false;
}

}  // namespace

std::shared_ptr<torch::jit::Graph> inlinedForwardGraph(const torch::jit::Module& module) {
  // The inliner reads the process's graph-executor flag: on, it splices in each callee's optimized graph
  // (itself inlined, with the call stacks that name every module instance); off, the raw graphs, one level a
  // pass, and the nodes of deeper levels lost their outer instances ("norm1" for "encoder.layer_0.norm1"),
  // so every norm was planned invalid. Pinned on: the plans must not depend on the caller's executor mode.
  const ExecutorModeGuard optimizeOn(true);
  auto graph = module.get_method("forward").graph()->copy();
  // Each pass inlines at least one level; a model nested deeper than this is not a real model.
  for (int pass = 0; pass < 256 && hasCalls(graph->block()); ++pass)
    torch::jit::Inline(*graph);
  if (hasCalls(graph->block())) throw std::runtime_error("forward graph still has calls after inlining");
  return graph;
}

NodeModule nodeModule(const torch::jit::Node* node, const std::string& rootType) {
  NodeModule result{"", rootType};
  auto callstack = node->callstack();
  if (!callstack) return result;
  for (const auto& entry : (*callstack)->vec()) {
    const auto& info = std::get<2>(entry);
    if (!info) continue;  // a free function's frame: no module instance
    const auto& name = info->instance_name();
    // "SELF" is a call of another method on the same module: same instance, same path.
    if (name != "SELF") result.path = result.path.empty() ? name : result.path + "." + name;
    if (info->class_type() && info->class_type()->name()) result.type = info->class_type()->name()->name();
  }
  return result;
}

}  // namespace lowmem
