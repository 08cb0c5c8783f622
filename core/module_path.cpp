#include "core/module_path.h"

namespace lowmem {

std::vector<std::string> pathComponents(const std::string& path) {
  std::vector<std::string> out;
  if (path.empty()) return out;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    out.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) return out;
    start = dot + 1;
  }
}

std::pair<std::string, std::string> splitLastComponent(const std::string& path) {
  const auto dot = path.rfind('.');
  if (dot == std::string::npos) return {"", path};
  return {path.substr(0, dot), path.substr(dot + 1)};
}

std::string joinPath(const std::string& parent, const std::string& child) {
  if (parent.empty()) return child;
  if (child.empty()) return parent;
  return parent + "." + child;
}

std::string commonPath(const std::string& a, const std::string& b) {
  size_t end = 0;  // the length of the common prefix that ends at a component boundary
  for (size_t i = 0;; ++i) {
    const bool aEnds = i == a.size() || a[i] == '.', bEnds = i == b.size() || b[i] == '.';
    if (aEnds && bEnds) end = i;
    if (i == a.size() || i == b.size() || a[i] != b[i]) break;
  }
  return a.substr(0, end);
}

bool isWithin(const std::string& path, const std::string& ancestor) {
  if (ancestor.empty()) return true;
  return path.size() >= ancestor.size() && path.compare(0, ancestor.size(), ancestor) == 0 &&
         (path.size() == ancestor.size() || path[ancestor.size()] == '.');
}

}  // namespace lowmem
