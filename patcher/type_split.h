#pragma once
// TorchScript module types are shared by instances: rewriting a type's code rewrites every instance. When
// only some instances of a type are patched, those (or the others) are given a type of their own first: the
// instance is cloned with fresh types for its subtree (parameters shared, not copied) and put back in place,
// with its parent's attribute and every graph that reads it retyped.

#include <torch/script.h>

#include <string>
#include <vector>

namespace lowmem {

// Dotted paths of the instances of `type` in `root` ("" for the root itself).
std::vector<std::string> instancePaths(const torch::jit::Module& root, const c10::ClassTypePtr& type);

// After this, no other module in `root` has the type of the module at `path`. The root always has its own
// type; throws InputError when the module at `path` is reachable by two paths (aliased), which cannot be
// split.
void giveOwnType(torch::jit::Module& root, const std::string& path);

}  // namespace lowmem
