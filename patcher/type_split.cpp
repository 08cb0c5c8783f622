#include "patcher/type_split.h"

#include <torch/csrc/jit/ir/ir.h>

#include <set>

#include "core/error.h"
#include "patcher/module_paths.h"

namespace lowmem {
namespace {

// Every (path, module) below `root`, depth first, the root as "".
void collect(const torch::jit::Module& m, const std::string& path,
             std::vector<std::pair<std::string, torch::jit::Module>>& out) {
  out.emplace_back(path, m);
  for (const auto& child : m.named_children())
    collect(child.value, path.empty() ? child.name : path + "." + child.name, out);
}

std::vector<std::pair<std::string, torch::jit::Module>> allModules(const torch::jit::Module& root) {
  std::vector<std::pair<std::string, torch::jit::Module>> out;
  collect(root, "", out);
  return out;
}

// Gives the attribute read by `prim::GetAttr[name](x : owner)` the new type in every graph of the model, so
// calls on it resolve to the new type's methods.
void retypeReads(torch::jit::Block* block, const c10::ClassTypePtr& owner, const std::string& name,
                 const c10::TypePtr& type) {
  for (auto* n : block->nodes()) {
    for (auto* inner : n->blocks())
      retypeReads(inner, owner, name, type);
    if (n->kind() == c10::prim::GetAttr && n->s(c10::attr::name) == name && n->input(0)->type() == owner)
      n->output()->setType(type);
  }
}

}  // namespace

std::vector<std::string> instancePaths(const torch::jit::Module& root, const c10::ClassTypePtr& type) {
  std::vector<std::string> out;
  for (const auto& [path, m] : allModules(root)) {
    if (m.type() == type) out.push_back(path);
  }
  return out;
}

void giveOwnType(torch::jit::Module& root, const std::string& path) {
  // Walk down from the root; the first shared type on the path is split by cloning that instance (its whole
  // subtree gets fresh types, so the walk goes on below it until the target is alone).
  for (int guard = 0; guard < 64; ++guard) {
    torch::jit::Module parent = root;
    std::string prefix;
    bool split = false;
    for (const auto& name : pathComponents(path)) {
      const std::string here = prefix.empty() ? name : prefix + "." + name;
      torch::jit::Module child = submoduleAt(parent, name);
      const auto paths = instancePaths(root, child.type());
      std::set<const c10::ivalue::Object*> objects;
      for (const auto& p : paths)
        objects.insert(submoduleAt(root, p)._ivalue().get());
      if (objects.size() < paths.size() && paths.size() > 1) {
        throw InputError("patch", "module " + here + " is reachable by more than one path (" + paths[0] +
                                      ", " + paths[1] + "); its code cannot be given a type of its own");
      }
      if (paths.size() > 1) {
        torch::jit::Module clone = child.clone(/*inplace=*/true);
        const auto owner = parent.type();
        owner->unsafeChangeAttributeType(name, clone.type());
        parent._ivalue()->setAttr(name, clone._ivalue());
        for (const auto& [p, m] : allModules(root)) {
          for (const auto& method : m.get_methods())
            retypeReads(method.graph()->block(), owner, name, clone.type());
        }
        split = true;
        break;
      }
      parent = child;
      prefix = here;
    }
    if (!split) return;
  }
  throw InputError("patch", "module " + path + " could not be given a type of its own");
}

}  // namespace lowmem
