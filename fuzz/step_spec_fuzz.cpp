// A --spec file's text, as resolveSpec reads it: bounded JSON, then the typed step spec. Anything but a
// lowmem::Error escaping (or a sanitizer report) is a bug.

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/bounded_json.h"
#include "core/error.h"
#include "core/step_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto spec = lowmem::StepSpec::fromJson(
        lowmem::parseBoundedJson(text, "spec.json", "the step spec", 1 << 20), "spec.json");
    // What was accepted round-trips.
    const auto again = lowmem::StepSpec::fromJson(spec.toJson(), "again");
    if (again.toJson() != spec.toJson()) __builtin_trap();
  } catch (const lowmem::Error&) {
  }
  return 0;
}
