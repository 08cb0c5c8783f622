// A --trainable selection: the first line is the pattern, the rest parameter names to match against it. RE2
// must refuse or match every one in linear time (libFuzzer's -timeout catches a hang).

#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "core/error.h"
#include "core/trainable.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  std::string pattern;
  std::getline(in, pattern);
  try {
    const auto selection = lowmem::TrainableSelection::parse(pattern);
    for (std::string name; std::getline(in, name);)
      selection.trains(name, name.size() % 2 == 0);
  } catch (const lowmem::Error&) {
  }
  return 0;
}
