#include "patcher/module_paths.h"

#include <stdexcept>

namespace lowmem {

std::optional<c10::IValue> attributeAt(const torch::jit::Module& root, const std::string& path) {
  torch::jit::Module m = root;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string name = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!m.hasattr(name)) return std::nullopt;
    auto v = m.attr(name);
    if (dot == std::string::npos) return v;
    if (!v.isObject()) return std::nullopt;
    m = torch::jit::Module(v.toObject());
    start = dot + 1;
  }
}

torch::jit::Module submoduleAt(const torch::jit::Module& root, const std::string& path) {
  if (path.empty()) return root;
  auto v = attributeAt(root, path);
  if (!v || !v->isObject()) throw std::out_of_range("no submodule " + path);
  return torch::jit::Module(v->toObject());
}

std::pair<std::string, std::string> splitLastComponent(const std::string& path) {
  const auto dot = path.rfind('.');
  if (dot == std::string::npos) return {"", path};
  return {path.substr(0, dot), path.substr(dot + 1)};
}

}  // namespace lowmem
