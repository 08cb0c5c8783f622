#include "core/trainable.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace lowmem {

TEST(TrainableSelection, KeywordsDecideByNameOrSavedFlag) {
  auto saved = TrainableSelection::parse("saved");
  EXPECT_TRUE(saved.trains("encoder.fc1.weight", true));
  EXPECT_FALSE(saved.trains("encoder.fc1.lora_A", false));

  auto lora = TrainableSelection::parse("lora");
  EXPECT_TRUE(lora.trains("encoder.layer_0.attn.q.lora_A", false));
  EXPECT_TRUE(lora.trains("encoder.layer_0.attn.q.lora_B", false));
  EXPECT_FALSE(lora.trains("encoder.layer_0.attn.q.weight", true));

  EXPECT_TRUE(TrainableSelection::parse("all").trains("x", false));
  EXPECT_FALSE(TrainableSelection::parse("none").trains("x", true));
}

TEST(TrainableSelection, RegexSearchesTheFullName) {
  auto s = TrainableSelection::parse(R"(lora_|^head\.)");
  EXPECT_EQ(s.mode(), TrainableSelection::Mode::kRegex);
  EXPECT_TRUE(s.trains("head.weight", false));
  EXPECT_TRUE(s.trains("a.lora_B", false));
  EXPECT_FALSE(s.trains("encoder.head.weight", true));
}

TEST(TrainableSelection, BadRegexIsASettingErrorNamingTheSetting) {
  try {
    TrainableSelection::parse("(unclosed");
    FAIL() << "expected SettingError";
  } catch (const SettingError& e) {
    EXPECT_EQ(e.exitCode(), ExitCode::kBadInput);
    EXPECT_EQ(e.setting(), "trainable");
    EXPECT_NE(e.problem().find("'(unclosed' is not a valid regex"), std::string::npos);
  }
  EXPECT_THROW(TrainableSelection::parse(""), InputError);
}

}  // namespace lowmem
