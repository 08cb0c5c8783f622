#pragma once
// An inlined copy of a module's forward graph for analysis, each node tagged with the dotted path of the
// module instance whose code it came from. The user's module and its method graphs are never modified.

#include <torch/csrc/jit/ir/ir.h>
#include <torch/script.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lowmem {

// Inlines every prim::CallMethod/CallFunction from the methods' own (unoptimised) graphs, one call at a time,
// so that each call's instance path is read from the whole prim::GetAttr chain of its target
// ("layers.0.mlp", where the interpreter's call stacks keep only "0"), then simplifies the copy as the graph
// executor would, takes the instance's plain attributes (not `training`) as constants and folds identity
// tests between one value and itself (`query is key` when the caller passed the same tensor), so branches
// that cannot run are gone.
//
// `calls`, when given, receives every module's forward call it inlined, with the arguments that were
// constants at the call.
struct InlinedCall {
  std::string path;                                   // the called instance
  std::string caller;                                 // the instance whose code makes the call
  std::vector<std::optional<c10::IValue>> arguments;  // self excluded; nullopt where not a constant
  // For a tuple result, whether the caller reads each element (`[0]`, `x, _ = ...`); empty otherwise.
  std::vector<bool> elementsRead;
};
std::shared_ptr<torch::jit::Graph> inlinedForwardGraph(const torch::jit::Module& module,
                                                       std::vector<InlinedCall>* calls = nullptr);

// Inlines the free functions and the module's own other methods (`self._sa_block(x)`) that `graph`, one of
// its methods, calls; true when there were any. Calls of other modules stay calls: their code remains theirs.
bool inlineOwnCode(std::shared_ptr<torch::jit::Graph>& graph);

// Takes every tuple apart (LowerAllTuples: those branches return and the graph's own results too); false,
// with `graph` as it was, where one cannot be (a dynamic index).
bool takeTuplesApart(std::shared_ptr<torch::jit::Graph>& graph);

// Takes the plain attributes of `instance` that `graph`, its own forward, never sets as constants and drops
// the branches they rule out: the code as the analysis of the whole model sees it for that instance.
void foldInstanceConfiguration(std::shared_ptr<torch::jit::Graph>& graph, const torch::jit::Module& instance);

struct NodeModule {
  std::string path;  // dotted instance path ("encoder.layer_0.mlp"); "" for the root
  std::string type;  // the TorchScript class whose method the node came from
};

// Replaces a prim::CallFunction or prim::CallMethod by the callee's own (unoptimised) graph.
void inlineFromOwnGraph(torch::jit::Node* call);

// "encoder.layer_0.attn.q.weight" for a chain of prim::GetAttr from `self`; nullopt otherwise.
std::optional<std::string> attributePath(const torch::jit::Value* v, const torch::jit::Value* self);

// Which module's code a node of an inlined graph came from. `rootType` names the root module's class.
NodeModule nodeModule(const torch::jit::Node* node, const std::string& rootType);

}  // namespace lowmem
