#pragma once
// The module tree as an icicle (a flame graph drawn top down): each module a box under its parent, as wide as
// its share of the activations alive when backward starts, children side by side, largest first, the
// parent's own (exclusive) bytes the uncovered rest. Layout only, in fractions of the root's width: the
// studio paints it, the tests check it against the profile's sums.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/profile.h"

namespace lowmem {

struct IcicleBox {
  std::string path;  // "" is the root
  int depth = 0;     // the root is 0
  double x0 = 0;     // [x0, x1) within [0, 1]
  double x1 = 0;
  int64_t inclusive = 0;
  int64_t exclusive = 0;
};

// Parents before their children; siblings largest first (ties by path). Empty when nothing was recorded.
std::vector<IcicleBox> icicleLayout(const std::map<std::string, ModuleActivation>& modules);

// The deepest box covering `x` at `depth`, or -1.
int icicleBoxAt(const std::vector<IcicleBox>& boxes, double x, int depth);

}  // namespace lowmem
