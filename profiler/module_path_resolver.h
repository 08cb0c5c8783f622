#pragma once
// The interpreter names a running module by the last attribute of the call's target only: a block iterated
// from an nn.ModuleList reads "0(DecoderLayer)" where the module tree has "layers.0". The tracer records the
// frames as "name(Type)" pieces joined by '.', and this resolver turns them into the instance's dotted path
// by walking the module tree: a piece is a direct child of that type, or else the one child of that name and
// type found inside the current module's containers (ModuleList, ModuleDict, Sequential, nested up to three
// deep).

#include <torch/script.h>

#include <map>
#include <string>
#include <unordered_map>

namespace lowmem {

// Every module of `root` by dotted path ("" the root) with its class name, unqualified.
std::map<std::string, std::string> moduleTypesOf(const torch::jit::Module& root);

class ModulePathResolver {
 public:
  explicit ModulePathResolver(const torch::jit::Module& root);

  // "0(DecoderLayer).mlp(MLP)" -> "layers.0.mlp". A piece that no child matches, or that two children
  // match (two containers holding same-typed children under one name), ends the walk: the rest is appended
  // by instance name, as the interpreter gave it.
  std::string resolve(const std::string& frames);

 private:
  torch::jit::Module root_;
  std::unordered_map<std::string, std::string> cache_;
};

}  // namespace lowmem
