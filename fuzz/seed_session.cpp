// Writes the session target's seed: a hand-built trace (tests/core/hand_traces.h) as two runs, a comparison
// record and a validation, so the fuzzer starts from every table a real session fills.
// Usage: seed_session OUT.db

#include <cstdio>
#include <filesystem>

#include "core/profile.h"
#include "core/session_store.h"
#include "core/validation.h"
#include "tests/core/hand_traces.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: seed_session OUT.db\n");
    return 2;
  }
  std::filesystem::remove(argv[1]);
  const auto trace = lowmem::testing::normSiteTrace();
  const auto profile = lowmem::analyseTrace(trace);
  lowmem::SessionWriter w(argv[1]);
  lowmem::RunInfo info;
  info.label = "baseline";
  info.specJson = R"({"loss": "sum", "trainable": "lora"})";
  w.writeRun(info, trace, profile);
  info.label = "patched";
  w.writeRun(info, trace, profile);
  w.writeComparison("baseline", "patched",
                    {{"suggestions", {{"predicted_peak", 804}, {"sites", nlohmann::json::array()}}},
                     {"rewrites", {"ms_layer_norm norm #0"}},
                     {"verification", {{"forward_ok", true}, {"max_abs_diff", 0.0}, {"min_cosine", 1.0}}}});
  lowmem::Validation v;
  v.modelPath = "m.pt";
  v.task = "regression: synthetic";
  v.tolerance = 0.05;
  for (int s = 0; s < 4; ++s)
    v.steps.push_back({1.0 / (s + 1), 1.0 / (s + 1), 0.99, 1e-3});
  w.writeValidation(v);
  return 0;
}
