#include "core/info_report.h"

#include <gtest/gtest.h>

#include <sstream>

namespace lowmem {

namespace {

ModelSummary twoModuleSummary() {
  ModelSummary s;
  s.file = "m.pt";
  s.forwardSignature = "forward(Tensor x) -> Tensor";
  s.trainable = "lora";
  ModuleRow root{"", "Net", 0, {10, 40, 2, 8}, {110, 440, 2, 8}, 0};
  ModuleRow fc{"fc", "Linear", 1, {100, 400, 0, 0}, {100, 400, 0, 0}, 16};
  s.modules = {root, fc};
  s.sites.push_back({SiteKind::kGelu, "aten::gelu", "approximate=none", "fc", "Linear", 0});
  s.sites.push_back({SiteKind::kLayerNorm, "aten::layer_norm", "eps=1e-05", "", "Net", 1});
  s.sites.push_back({SiteKind::kGeluTanh, "aten::gelu", "approximate=tanh", "", "Net", 2});
  return s;
}

}  // namespace

TEST(InfoReport, JsonCarriesCountsSitesAndTotals) {
  auto j = infoJson(twoModuleSummary());
  EXPECT_EQ(j["parameters"]["params"], 110);
  EXPECT_EQ(j["parameters"]["trainable_params"], 2);
  EXPECT_EQ(j["site_counts"]["gelu"], 1);
  EXPECT_EQ(j["site_counts"]["gelu_tanh"], 1);
  EXPECT_EQ(j["site_counts"]["layer_norm"], 1);
  EXPECT_EQ(j["site_counts"]["silu"], 0);
  EXPECT_EQ(j["site_counts"]["rms_norm"], 0);
  ASSERT_EQ(j["sites"].size(), 3u);
  EXPECT_EQ(j["sites"][0]["module"], "fc");
  EXPECT_EQ(j["modules"][1]["buffer_bytes"], 16);
}

TEST(InfoReport, TextShowsTreeSitesAndTheTanhReason) {
  std::ostringstream out;
  writeInfoText(twoModuleSummary(), {}, out);
  const auto text = out.str();
  EXPECT_NE(text.find("forward     forward(Tensor x) -> Tensor"), std::string::npos);
  EXPECT_NE(text.find("(root)"), std::string::npos);
  EXPECT_NE(text.find("tanh approximation"), std::string::npos);
  EXPECT_NE(text.find("under --trainable lora"), std::string::npos);

  // Depth 0 keeps the header and the root row of the tree; depth -1 keeps the child too.
  auto treeRows = [](int depth) {
    std::ostringstream o;
    writeInfoText(twoModuleSummary(), InfoReportOptions{depth}, o);
    const auto t = o.str();
    const auto begin = t.find("module tree");
    const auto end = t.find("swap candidates");
    int rows = 0;
    for (auto i = begin; i < end; ++i)
      rows += t[i] == '\n';
    return rows - 2;  // the section's title line and the blank line before the next section
  };
  EXPECT_EQ(treeRows(0), 2);
  EXPECT_EQ(treeRows(-1), 3);
}

}  // namespace lowmem
