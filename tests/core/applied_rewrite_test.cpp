// Applied-rewrite records against their hand-written stored form: each kind's op name, the bits of the
// activation codes, the root module, and texts that are no record.

#include <gtest/gtest.h>

#include "core/applied_rewrite.h"
#include "core/site_plan.h"

namespace lowmem {
namespace {

TEST(AppliedRewrite, OneTableNamesEachKindsReplacementOp) {
  EXPECT_EQ(replacementOp(SiteKind::kGelu), "lowmem::regelu2");
  EXPECT_EQ(replacementOp(SiteKind::kSilu), "lowmem::resilu2");
  EXPECT_EQ(replacementOp(SiteKind::kGelu, 3), "lowmem::regelu");  // the k-bit op takes its bits
  EXPECT_EQ(replacementOp(SiteKind::kSilu, 4), "lowmem::resilu");
  EXPECT_EQ(replacementOp(SiteKind::kLayerNorm), "lowmem::ms_layer_norm");
  EXPECT_EQ(replacementOp(SiteKind::kRmsNorm), "lowmem::ms_rms_norm");
  EXPECT_EQ(replacementOp(SiteKind::kGeluTanh), "");
}

TEST(AppliedRewrite, TextRoundTripsForEveryKind) {
  const std::vector<std::pair<AppliedRewrite, std::string>> cases = {
      {{SiteKind::kGelu, 2, "encoder.layer_0.mlp", 3}, "regelu2 encoder.layer_0.mlp #3"},
      {{SiteKind::kSilu, 4, "model.layers.1.mlp", 12}, "resilu4 model.layers.1.mlp #12"},
      {{SiteKind::kLayerNorm, 2, "", 0}, "ms_layer_norm (root) #0"},
      {{SiteKind::kRmsNorm, 2, "model.norm", 7}, "ms_rms_norm model.norm #7"},
  };
  for (const auto& [record, text] : cases) {
    EXPECT_EQ(record.text(), text);
    const auto back = AppliedRewrite::parse(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(*back, record) << text;
    EXPECT_EQ(nlohmann::json(record), text);
    EXPECT_EQ(nlohmann::json(text).get<AppliedRewrite>(), record);
  }
}

TEST(AppliedRewrite, TextsThatAreNoRecordAreRefused) {
  for (const char* text : {"", "regelu encoder #1", "ms_layer_norm2 x #1", "gelu x #1", "regelu5 x #1",
                           "regelu2", "regelu2 a b #1"}) {
    EXPECT_FALSE(AppliedRewrite::parse(text)) << text;
  }
  EXPECT_THROW(nlohmann::json("relu x #1").get<AppliedRewrite>(), nlohmann::json::type_error);
}

TEST(AppliedRewrite, TheSameSiteWhateverTheBits) {
  const AppliedRewrite two{SiteKind::kGelu, 2, "mlp", 1};
  EXPECT_TRUE(two.sameSite({SiteKind::kGelu, 3, "mlp", 4}));
  EXPECT_FALSE(two.sameSite({SiteKind::kSilu, 2, "mlp", 1}));
  EXPECT_FALSE(two.sameSite({SiteKind::kGelu, 2, "mlp2", 1}));
}

TEST(AppliedRewrite, AttentionRecordsReadBackAndItsSitesStayOffTheCpu) {
  EXPECT_EQ(replacementOp(SiteKind::kAttention), "lowmem::attention");
  const auto r = AppliedRewrite::parse("attention encoder.layer_0.attn #1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->kind, SiteKind::kAttention);
  EXPECT_EQ(r->text(), "attention encoder.layer_0.attn #1");
  // The op's CUDA kernel has not run on a GPU yet: a step there leaves attention as it is and says why.
  std::vector<SitePlan> plans(2);
  plans[0].site.kind = SiteKind::kAttention;
  plans[1].site.kind = SiteKind::kGelu;
  plans[0].valid = plans[1].valid = true;
  auto cpu = plans;
  refuseAttentionOffCpu(cpu, true);
  EXPECT_TRUE(cpu[0].valid && cpu[1].valid);
  refuseAttentionOffCpu(plans, false);
  EXPECT_FALSE(plans[0].valid);
  EXPECT_NE(plans[0].reason.find("not yet been checked"), std::string::npos) << plans[0].reason;
  EXPECT_TRUE(plans[1].valid);
  // Trusted or not, the CUDA kernel neither drops nor gives a mask its gradient: such sites stay on the GPU.
  std::vector<SitePlan> gpu(3);
  for (auto& p : gpu) {
    p.site.kind = SiteKind::kAttention;
    p.valid = true;
  }
  gpu[0].attention.dropout = true;
  gpu[1].attention.maskGrad = true;
  auto onCpu = gpu;
  refuseAttentionCpuOnly(onCpu, true);
  EXPECT_TRUE(onCpu[0].valid && onCpu[1].valid && onCpu[2].valid);
  refuseAttentionCpuOnly(gpu, false);
  EXPECT_FALSE(gpu[0].valid);
  EXPECT_NE(gpu[0].reason.find("drop probabilities"), std::string::npos) << gpu[0].reason;
  EXPECT_FALSE(gpu[1].valid);
  EXPECT_NE(gpu[1].reason.find("give a mask its gradient"), std::string::npos) << gpu[1].reason;
  EXPECT_TRUE(gpu[2].valid);
}
}  // namespace
}  // namespace lowmem
