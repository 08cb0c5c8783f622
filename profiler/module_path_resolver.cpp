#include "profiler/module_path_resolver.h"

#include <optional>
#include <utility>
#include <vector>

#include "core/module_path.h"

namespace lowmem {
namespace {

struct Piece {
  std::string name;
  std::string type;
};

// "0(DecoderLayer).mlp(MLP)" -> {"0", "DecoderLayer"}, {"mlp", "MLP"}. Instance and unqualified class names
// hold no '.'.
std::vector<Piece> pieces(const std::string& frames) {
  std::vector<Piece> out;
  for (const auto& token : pathComponents(frames)) {
    const auto open = token.find('(');
    if (open == std::string::npos || token.back() != ')') {
      out.push_back({token, ""});
    } else {
      out.push_back({token.substr(0, open), token.substr(open + 1, token.size() - open - 2)});
    }
  }
  return out;
}

std::string typeName(const torch::jit::Module& m) {
  return m.type()->name() ? m.type()->name()->name() : "";
}

// Children named `name` of type `type` under `m`, looked for `depth` container levels down.
void findChild(const torch::jit::Module& m, const Piece& piece, const std::string& prefix, int depth,
               std::vector<std::pair<std::string, torch::jit::Module>>& found) {
  for (const auto& child : m.named_children()) {
    const auto path = prefix.empty() ? child.name : prefix + "." + child.name;
    if (child.name == piece.name && typeName(child.value) == piece.type) {
      found.emplace_back(path, child.value);
    } else if (depth > 1) {
      findChild(child.value, piece, path, depth - 1, found);
    }
  }
}

}  // namespace

std::map<std::string, std::string> moduleTypesOf(const torch::jit::Module& root) {
  std::map<std::string, std::string> types;
  for (const auto& m : root.named_modules())
    types.emplace(m.name, typeName(m.value));
  return types;
}

ModulePathResolver::ModulePathResolver(const torch::jit::Module& root) : root_(root) {}

std::string ModulePathResolver::resolve(const std::string& frames) {
  if (frames.empty()) return frames;
  if (auto hit = cache_.find(frames); hit != cache_.end()) return hit->second;
  std::string path;
  torch::jit::Module current = root_;
  bool resolved = true;
  for (const auto& piece : pieces(frames)) {
    std::optional<std::pair<std::string, torch::jit::Module>> next;
    if (resolved) {
      std::vector<std::pair<std::string, torch::jit::Module>> found;
      findChild(current, piece, "", 1, found);
      if (found.empty()) findChild(current, piece, "", 3, found);
      if (found.size() == 1) next = found.front();
    }
    if (next) {
      current = next->second;
      path = joinPath(path, next->first);
    } else {
      resolved = false;
      path = joinPath(path, piece.name);
    }
  }
  cache_.emplace(frames, path);
  return path;
}

}  // namespace lowmem
