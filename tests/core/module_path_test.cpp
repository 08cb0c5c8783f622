// Dotted module paths: components, the last component, and ancestry by whole components only.

#include "core/module_path.h"

#include <gtest/gtest.h>

namespace lowmem {
namespace {

TEST(ModulePath, ComponentsOfRootLeafAndNestedPaths) {
  EXPECT_TRUE(pathComponents("").empty());
  EXPECT_EQ(pathComponents("head"), (std::vector<std::string>{"head"}));
  EXPECT_EQ(pathComponents("encoder.layer_0.attn"), (std::vector<std::string>{"encoder", "layer_0", "attn"}));
}

TEST(ModulePath, SplitsTheLastComponent) {
  EXPECT_EQ(splitLastComponent("encoder.layer_0.norm1.weight"),
            (std::pair<std::string, std::string>{"encoder.layer_0.norm1", "weight"}));
  EXPECT_EQ(splitLastComponent("head"), (std::pair<std::string, std::string>{"", "head"}));
  EXPECT_EQ(splitLastComponent(""), (std::pair<std::string, std::string>{"", ""}));
}

TEST(ModulePath, WithinMatchesWholeComponentsOnly) {
  EXPECT_TRUE(isWithin("blocks.1", "blocks.1"));
  EXPECT_TRUE(isWithin("blocks.1.mlp.fc1", "blocks.1"));
  EXPECT_FALSE(isWithin("blocks.10.mlp", "blocks.1"));  // a prefix of the text, not of the path
  EXPECT_FALSE(isWithin("blocks", "blocks.1"));
  EXPECT_TRUE(isWithin("anything", ""));
}

TEST(ModulePath, CommonPathEndsAtAComponent) {
  EXPECT_EQ(commonPath("blocks.1.mlp", "blocks.1.attn"), "blocks.1");
  EXPECT_EQ(commonPath("blocks.1", "blocks.10"), "blocks");  // "blocks.1" is a prefix of the text only
  EXPECT_EQ(commonPath("blocks.1", "blocks.1.mlp"), "blocks.1");
  EXPECT_EQ(commonPath("blocks.1.mlp", "blocks.1"), "blocks.1");
  EXPECT_EQ(commonPath("norm", "norm"), "norm");
  EXPECT_EQ(commonPath("a", "b"), "");
  EXPECT_EQ(commonPath("", "blocks"), "");
}

}  // namespace
}  // namespace lowmem
