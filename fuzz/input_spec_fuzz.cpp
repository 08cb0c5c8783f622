// An --input flag's text: NAME:DTYPE[d0,...] with an optional :LOW..HIGH. Accepted specs print back to text
// that parses to the same spec.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "core/step_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;  // a flag, not a file
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto spec = lowmem::parseInputSpec(text);
    if (lowmem::parseInputSpec(spec.text()).text() != spec.text()) __builtin_trap();
  } catch (const lowmem::Error&) {
  }
  return 0;
}
