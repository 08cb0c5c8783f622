#include "core/icicle_layout.h"

#include <algorithm>

#include "core/module_path.h"

namespace lowmem {
namespace {

using Modules = std::map<std::string, ModuleActivation>;

// Places `path` at `x0` and its subtree after it; returns the right edge of its box.
double place(const Modules& modules, const std::map<std::string, std::vector<std::string>>& children,
             const std::string& path, int depth, double x0, double rootBytes, std::vector<IcicleBox>& out) {
  const auto& a = modules.at(path);
  const double x1 = x0 + (rootBytes > 0 ? static_cast<double>(a.inclusive) / rootBytes : 0.0);
  out.push_back({path, depth, x0, x1, a.inclusive, a.exclusive});
  const auto it = children.find(path);
  if (it == children.end()) return x1;
  double x = x0;
  for (const auto& child : it->second)
    x = place(modules, children, child, depth + 1, x, rootBytes, out);
  return x1;
}

}  // namespace

std::vector<IcicleBox> icicleLayout(const Modules& modules) {
  std::vector<IcicleBox> out;
  const auto root = modules.find("");
  if (root == modules.end()) return out;
  std::map<std::string, std::vector<std::string>> children;
  for (const auto& [path, a] : modules) {
    if (path.empty()) continue;
    // A module whose parent holds nothing itself is still in the map (inclusive sums walk every prefix).
    children[splitLastComponent(path).first].push_back(path);
  }
  for (auto& [parent, list] : children) {
    std::sort(list.begin(), list.end(), [&](const std::string& a, const std::string& b) {
      const auto ia = modules.at(a).inclusive, ib = modules.at(b).inclusive;
      return ia != ib ? ia > ib : a < b;
    });
  }
  place(modules, children, "", 0, 0.0, static_cast<double>(root->second.inclusive), out);
  return out;
}

int icicleBoxAt(const std::vector<IcicleBox>& boxes, double x, int depth) {
  for (size_t i = 0; i < boxes.size(); ++i) {
    const auto& b = boxes[i];
    if (b.depth == depth && x >= b.x0 && x < b.x1) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace lowmem
