// Mistakes a new user makes, each answered at once in one line (issue 14, item 5), and the conveniences that
// make them rarer: global flags anywhere on the line, usage from the studio, validations in `report`.

#include <gtest/gtest.h>

#include <string>

#include "tests/cli/cli_fixture.h"

namespace lowmem {
namespace {

TEST_F(CliTest, AnInputNameForwardDoesNotTakeIsRefusedNotStored) {
  const auto model = built("vit-tiny");
  expectBadInput(lowmemCli({"profile", model, "-o", path("img.db"), "--input", "img:float32[2,3,32,32]"}),
                 "'img'", "forward(Tensor x) -> Tensor has no argument 'img'");
  EXPECT_FALSE(std::filesystem::exists(path("img.db")));
}

TEST_F(CliTest, ATrainableSelectionThatMatchesNothingIsRefusedByName) {
  const auto model = built("vit-tiny");
  // Was autograd's "element 0 of tensors does not require grad", exit 3, after the model ran.
  expectBadInput(lowmemCli({"profile", model, "-o", path("lroa.db"), "--trainable", "lroa"}), "--trainable",
                 "'lroa' matches none of the model's 64 parameters (e.g. patch_embed.weight)");
  expectBadInput(lowmemCli({"info", model, "--trainable", "lroa"}), "--trainable", "'lroa' matches none");
  // `none` is a fine thing to ask `info`, not a step.
  EXPECT_EQ(lowmemCli({"-q", "info", model, "--trainable", "none"}).exitCode, 0);
  expectBadInput(lowmemCli({"suggest", model, "--trainable", "none"}), "--trainable",
                 "'none' trains nothing");
  EXPECT_FALSE(std::filesystem::exists(path("lroa.db")));
}

TEST_F(CliTest, GlobalFlagsAreAcceptedAfterTheCommand) {
  const auto model = built("vit-tiny");
  auto r = lowmemCli({"info", model, "-q"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  r = lowmemCli({"models", "list", "--verbose"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  // -q after the command silences the log as before it: nothing on stderr for a clean run.
  r = lowmemCli({"profile", model, "-o", path("quiet.db"), "--trainable", "lora", "-q"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST_F(CliTest, ReportShowsTheValidationsASessionHolds) {
  const auto model = built("vit-tiny");
  const auto session = path("validations.db");
  // Four steps decide little: the verdict may pass (0), fail (1) or be inconclusive (4); either way the
  // validation is stored.
  const auto v = lowmemCli({"-q", "validate", "--threads", "1", model, "--trainable", "lora", "--steps", "4",
                            "--seeds", "1", "-o", session});
  ASSERT_TRUE(v.exitCode == 0 || v.exitCode == 1 || v.exitCode == 4) << v.err;
  const auto r = lowmemCli({"report", session});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("validation  1 of 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("verdict     "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("over 4 steps"), std::string::npos) << r.out;
  // ... and in JSON, the same record `validate --json` gives, beside no runs.
  const auto j = lowmemCli({"report", session, "--format", "json"});
  ASSERT_EQ(j.exitCode, 0) << j.err;
  const auto reported = nlohmann::json::parse(j.out);
  EXPECT_EQ(reported["runs"], nlohmann::json::array());
  ASSERT_EQ(reported["validations"].size(), 1u);
  EXPECT_EQ(reported["validations"][0]["steps"].size(), 4u) << reported.dump();
  EXPECT_EQ(reported["validations"][0]["model"], model);
  EXPECT_EQ(reported["validations"][0]["passed"].get<bool>(), v.exitCode == 0);
}

TEST_F(CliTest, ProgressIsALogLinePerStageWhenStderrIsNotATerminal) {
  const auto model = built("vit-tiny");
  auto r =
      lowmemCli({"validate", "--threads", "1", model, "--trainable", "lora", "--steps", "8", "--seeds", "1"});
  ASSERT_TRUE(r.exitCode == 0 || r.exitCode == 1 || r.exitCode == 4) << r.err;
  // Without --optimizer or --lr, validate fine-tunes adapters with AdamW at 1e-3 (the profiler's SGD prices a
  // step; it does not make LoRA learn in a few hundred).
  EXPECT_NE(r.out.find("optimizer   adamw, lr 0.001\n"), std::string::npos) << r.out;
  // Every stage once, with the time since the command began; a counted stage at each quarter.
  EXPECT_NE(r.err.find(" s: loading model\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" s: training step 1 of 8 (12%)\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" s: training step 2 of 8 (25%)\n"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find(" s: training step 3 of 8"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(" s: training step 8 of 8 (100%)\n"), std::string::npos) << r.err;
  EXPECT_EQ(withoutProgress(r.err), "") << r.err;
  // -q keeps stderr to errors.
  r = lowmemCli(
      {"-q", "validate", "--threads", "1", model, "--trainable", "lora", "--steps", "4", "--seeds", "1"});
  EXPECT_EQ(r.err, "");
}

// Two profiles that no patch joined (two models, two machines, two days) diff like a patch session's runs.
TEST_F(CliTest, CompareDiffsTheRunsOfTwoSeparateSessions) {
  const auto model = built("vit-tiny");
  const auto patched = path("diff-patched.pt");
  ASSERT_EQ(lowmemCli({"-q", "patch", model, "-o", patched, "--trainable", "lora"}).exitCode, 0);
  ASSERT_EQ(lowmemCli({"-q", "profile", model, "-o", path("diff-a.db"), "--trainable", "lora"}).exitCode, 0);
  ASSERT_EQ(
      lowmemCli({"-q", "profile", patched, "-o", path("diff-b.db"), "--trainable", "lora", "--label", "p"})
          .exitCode,
      0);
  auto r = lowmemCli({"compare", path("diff-a.db"), "--with", path("diff-b.db"), "--format", "json"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_FALSE(j["has_prediction"].get<bool>());
  EXPECT_EQ(j["patched"], "p");
  const auto a =
      nlohmann::json::parse(lowmemCli({"report", path("diff-a.db"), "--format", "json"}).out)["runs"][0];
  const auto b =
      nlohmann::json::parse(lowmemCli({"report", path("diff-b.db"), "--format", "json"}).out)["runs"][0];
  EXPECT_EQ(j["peak_before"], a["peak_bytes"]);
  EXPECT_EQ(j["peak_after"], b["peak_bytes"]);
  EXPECT_LT(j["peak_after"].get<int64_t>(), j["peak_before"].get<int64_t>());
  r = lowmemCli({"compare", path("diff-a.db"), "--with", path("diff-b.db"), "--with-run", "p"});
  ASSERT_EQ(r.exitCode, 0) << r.err;
  EXPECT_NE(r.out.find("models              " + model + " -> " + patched), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("predicted peak"), std::string::npos) << r.out;
  expectBadInput(lowmemCli({"compare", path("diff-a.db"), "--with", path("diff-b.db"), "--with-run", "nope"}),
                 path("diff-b.db"), "nope");
  expectBadInput(lowmemCli({"compare", path("diff-a.db"), "--run", "baseline"}), "--run", "give --with");
}

#ifdef LOWMEM_STUDIO_BIN
TEST_F(CliTest, StudioHelpPrintsUsageWithoutADisplay) {
  // No display and no offscreen platform: QApplication would abort; --help must not need one.
  const auto r = testing::runProcess({"/usr/bin/env", "-u", "DISPLAY", "-u", "WAYLAND_DISPLAY", "-u",
                                      "QT_QPA_PLATFORM", LOWMEM_STUDIO_BIN, "--help"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out.rfind("usage: lowmem-studio [FILE]", 0), 0u) << r.out;
  const auto bad = testing::runProcess({"/usr/bin/env", "QT_QPA_PLATFORM=offscreen", "XDG_RUNTIME_DIR=/tmp",
                                        LOWMEM_STUDIO_BIN, "--no-such-flag"});
  EXPECT_EQ(bad.exitCode, 2);
  EXPECT_EQ(bad.err, "lowmem-studio: unknown option '--no-such-flag' (see --help)\n");
}
#endif

}  // namespace
}  // namespace lowmem
