#include "patcher/module_paths.h"

#include <stdexcept>

namespace lowmem {

std::optional<c10::IValue> attributeAt(const torch::jit::Module& root, const std::string& path) {
  const auto names = pathComponents(path);
  if (names.empty()) return std::nullopt;  // the root is no attribute
  torch::jit::Module m = root;
  for (size_t i = 0;; ++i) {
    if (!m.hasattr(names[i])) return std::nullopt;
    auto v = m.attr(names[i]);
    if (i + 1 == names.size()) return v;
    if (!v.isObject()) return std::nullopt;
    m = torch::jit::Module(v.toObject());
  }
}

torch::jit::Module submoduleAt(const torch::jit::Module& root, const std::string& path) {
  if (path.empty()) return root;
  auto v = attributeAt(root, path);
  if (!v || !v->isObject()) throw std::out_of_range("no submodule " + path);
  return torch::jit::Module(v->toObject());
}

}  // namespace lowmem
