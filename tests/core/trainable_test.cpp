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

// Issue 19.7: regexes that crashed or hung std::regex (huge, deeply nested, absurd repetition, exponential
// backtracking) are refused in one line or matched in linear time.
TEST(TrainableSelection, HostileRegexesAreRefusedOrMatchedInLinearTime) {
  const auto problem = [](const std::string& text) {
    try {
      TrainableSelection::parse(text);
    } catch (const SettingError& e) {
      EXPECT_EQ(e.setting(), "trainable");
      EXPECT_EQ(e.problem().find('\n'), std::string::npos);
      return e.problem();
    }
    return std::string("accepted");
  };
  EXPECT_NE(problem(std::string(120000, 'a')).find("longer than the 4096 lowmem takes"), std::string::npos);
  // Deep nesting and an absurd repetition count (undefined behaviour in libstdc++'s regex): RE2 parses them
  // without recursion limits being hit (2,000 levels) or reads the count as text; either way the selection
  // answers, in one pass over the name.
  for (const std::string& text :
       {std::string(2000, '(') + "a" + std::string(2000, ')'), std::string("a{99999999999999999999}")}) {
    EXPECT_EQ(problem(text), "accepted") << text.substr(0, 40);
    EXPECT_FALSE(TrainableSelection::parse(text).trains(std::string(100000, 'b'), true));
  }
  EXPECT_TRUE(TrainableSelection::parse("a{99999999999999999999}").trains("xa{99999999999999999999}", false));
  EXPECT_NE(problem("(unclosed").find("is not a valid regex (missing ): (unclosed)"), std::string::npos);
  // Exponential for a backtracking matcher on a name that almost matches; RE2 answers at once.
  const auto s = TrainableSelection::parse("^(a*)*b$");
  EXPECT_FALSE(s.trains(std::string(5000, 'a'), true));
  EXPECT_TRUE(s.trains("aaab", false));
}

}  // namespace lowmem
