// What a patched model records beyond its rewrites, through the real binary: the digest of the model it was
// patched from (checked by `validate --patched`, kept through a second patch) and, after `--dtype`, the
// input dtype it now takes.

#include <gtest/gtest.h>

#include <string>

#include "tests/cli/cli_fixture.h"

namespace lowmem {
namespace {

// sha256sum's digest of the file, as the patched model should record it.
std::string sha256sum(const std::string& file) {
  const auto r = testing::runProcess({"/usr/bin/sha256sum", "--", file});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  return "sha256:" + r.out.substr(0, 64);
}

TEST_F(CliTest, APatchedModelRecordsItsBaseAndValidateRefusesAnotherBase) {
  const auto base = built("vit-tiny");
  const auto other = path("vit-tiny-seed7.pt");
  ASSERT_EQ(lowmemCli({"-q", "models", "build", "vit-tiny", "--seed", "7", "-o", other}).exitCode, 0);
  // Norms first, activations in a second patch: the second keeps the first's record of the base.
  const auto once = path("other-norms.pt");
  const auto twice = path("other-both.pt");
  auto r = lowmemCli({"-q", "patch", other, "-o", once, "--trainable", "lora", "--only", "layer_norm"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  r = lowmemCli({"-q", "patch", once, "-o", twice, "--trainable", "lora", "--only", "gelu"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto expected = sha256sum(other);
  EXPECT_EQ(infoJson(once, "lora")["base_model"], expected);
  EXPECT_EQ(infoJson(twice, "lora")["base_model"], expected);
  EXPECT_EQ(infoJson(other, "lora")["base_model"], "");
  // Trained beside a model it was not patched from: refused before any step, both files named.
  expectBadInput(lowmemCli({"validate", "--threads", "1", base, "--trainable", "lora", "--patched", twice}),
                 twice, "was patched from another model");
  const auto refusal =
      lowmemCli({"validate", "--threads", "1", base, "--trainable", "lora", "--patched", twice});
  EXPECT_NE(refusal.err.find(base), std::string::npos) << refusal.err;
  // Its own base passes the check (and trains).
  r = lowmemCli({"-q", "validate", "--threads", "1", other, "--trainable", "lora", "--patched", twice,
                 "--steps", "4", "--seeds", "1"});
  EXPECT_TRUE(r.exitCode == 0 || r.exitCode == 1 || r.exitCode == 4) << r.exitCode << ": " << r.err;
}

TEST_F(CliTest, PatchWithADtypeSaysSoAndRecordsTheInputsTheModelNowTakes) {
  const auto model = built("vit-tiny");
  const auto patched = path("vit-tiny-bf16.pt");
  auto r = lowmemCli({"patch", model, "-o", patched, "--trainable", "lora", "--dtype", "bfloat16"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(
      r.out.find("note: its parameters are bfloat16 (--dtype); it takes bfloat16 inputs (recorded input "
                 "spec now x:bfloat16[2,3,32,32])"),
      std::string::npos)
      << r.out;
  EXPECT_EQ(infoJson(patched, "lora")["input_hint"], "x:bfloat16[2,3,32,32]");
  // Profiled as saved, with no flag: the recorded float32 input met bfloat16 weights and failed.
  r = lowmemCli({"-q", "profile", patched, "--trainable", "lora", "-o", path("bf16.db")});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  // Without --dtype the model keeps its dtype and the note is not printed.
  r = lowmemCli({"patch", model, "-o", path("vit-tiny-f32.pt"), "--trainable", "lora", "--json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_TRUE(j["saved_dtype"].is_null());
  EXPECT_EQ(infoJson(path("vit-tiny-f32.pt"), "lora")["input_hint"], "x:float32[2,3,32,32]");
}

}  // namespace
}  // namespace lowmem
