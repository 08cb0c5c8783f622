#pragma once
// An inlined copy of a module's forward graph for analysis, with each node's module instance recovered from
// the inliner's call stacks. The user's module and its method graphs are never modified.

#include <torch/csrc/jit/ir/ir.h>
#include <torch/script.h>

#include <memory>
#include <string>

namespace lowmem {

// Inlines every prim::CallMethod/CallFunction, with the graph executor's optimiser switched on for the call
// whatever the process's setting (LibTorch's inliner reads it). Like any first run, this computes and caches
// the callees' optimized graphs in the module's functions.
std::shared_ptr<torch::jit::Graph> inlinedForwardGraph(const torch::jit::Module& module);

struct NodeModule {
  std::string path;  // dotted instance path ("encoder.layer_0.mlp"); "" for the root
  std::string type;  // the TorchScript class whose method the node came from
};

// Which module's code a node of an inlined graph came from. `rootType` names the root module's class.
NodeModule nodeModule(const torch::jit::Node* node, const std::string& rootType);

}  // namespace lowmem
