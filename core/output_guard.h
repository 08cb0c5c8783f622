#pragma once
// No output may land on an input: every command names the files it reads and the files it writes, and this
// guard refuses, before any work, an output that is one of the inputs or another output, through symlinks,
// hard links and relative paths alike (`profile m.pt --chrome-trace m.pt` would replace the model).

#include <string>
#include <vector>

namespace lowmem {

struct NamedPath {
  std::string role;  // how the user set it: "the model", "--chrome-trace", "the session (-o)"
  std::string path;
};

// checkOutputPath for every output, then InputError naming the output when it is the same file as an input
// or an earlier output. Empty paths are options not given and are skipped.
void checkOutputs(const std::vector<NamedPath>& inputs, const std::vector<NamedPath>& outputs);

// Whether two paths name one file: the same inode when both exist, else the same resolved location.
bool sameFile(const std::string& a, const std::string& b);

}  // namespace lowmem
