#include "service/byte_corpus.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "core/error.h"

namespace lowmem {

ByteCorpus loadByteCorpus(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".py" && it->is_regular_file()) files.push_back(it->path());
  }
  if (ec) throw InputError(dir, "cannot list: " + ec.message() + " (python3 installs it)");
  std::sort(files.begin(), files.end());
  ByteCorpus c;
  c.source = dir;
  for (size_t i = 0; i < files.size(); ++i) {
    std::ifstream in(files[i], std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in && !in.eof()) throw InputError(files[i].string(), "cannot read");
    const bool heldOut = i % 10 == 9;
    (heldOut ? c.heldOut : c.train) += text;
    ++(heldOut ? c.heldOutFiles : c.trainFiles);
  }
  if (c.heldOutFiles == 0 || c.train.empty())
    throw InputError(dir, "holds " + std::to_string(files.size()) +
                              " .py files; the text corpus needs at least 10 (python3 installs them)");
  return c;
}

}  // namespace lowmem
