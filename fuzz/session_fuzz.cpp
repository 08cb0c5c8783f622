// A session file, mutated from a real one (fuzz/seed_session.cpp): every reader path the CLI and the studio
// take (runs, each run's trace and analysis, comparisons, validations) must answer with a lowmem::Error or
// read it, never crash, hang or read out of bounds.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/comparison.h"
#include "core/error.h"
#include "core/log.h"
#include "core/session_store.h"

namespace {

const std::string& scratch() {
  static const std::string path = "/tmp/lowmem-session-fuzz-" + std::to_string(::getpid()) + ".db";
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  lowmem::configureLogging(lowmem::Verbosity::kQuiet);
  // The path's static first, so that it is destroyed after the exit handler that uses it.
  scratch();
  std::atexit([] {
    std::remove(scratch().c_str());
    std::remove((scratch() + "-journal").c_str());
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& path = scratch();
  std::remove((path + "-journal").c_str());
  if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  try {
    lowmem::SessionReader reader(path);
    for (const auto& run : reader.runs())
      reader.load(run.label);
    for (const auto& c : reader.comparisons()) {
      try {
        lowmem::comparisonJson(reader.load(c.baselineLabel), reader.load(c.patchedLabel), c.record);
      } catch (const nlohmann::json::exception&) {
        // A record of the wrong shape: `lowmem compare` names it as a corrupt session.
      }
    }
    reader.validations();
  } catch (const lowmem::Error& e) {
    // LOWMEM_FUZZ_DEBUG=1: say why an input was refused (to check a seed reads as a session).
    if (std::getenv("LOWMEM_FUZZ_DEBUG")) std::fprintf(stderr, "refused: %s\n", e.what());
  }
  return 0;
}
