#include "core/output_guard.h"

#include <filesystem>

#include "core/atomic_file.h"
#include "core/error.h"

namespace lowmem {

namespace fs = std::filesystem;

bool sameFile(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec) && !ec;
  // One does not exist yet: the same place once links in the directories are resolved.
  const auto ca = fs::weakly_canonical(fs::absolute(a), ec);
  if (ec) return false;
  const auto cb = fs::weakly_canonical(fs::absolute(b), ec);
  return !ec && ca == cb;
}

void checkOutputs(const std::vector<NamedPath>& inputs, const std::vector<NamedPath>& outputs) {
  std::vector<const NamedPath*> taken;
  for (const auto& in : inputs) {
    if (!in.path.empty()) taken.push_back(&in);
  }
  for (const auto& out : outputs) {
    if (out.path.empty()) continue;
    checkOutputPath(out.path);
    for (const auto* other : taken) {
      if (sameFile(out.path, other->path)) {
        throw InputError(out.path, "is also " + other->role + " (" + other->path + "); give " + out.role +
                                       " a file of its own");
      }
    }
    taken.push_back(&out);
  }
}

}  // namespace lowmem
