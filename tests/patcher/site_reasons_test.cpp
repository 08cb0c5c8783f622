// Every reason a site plan can give, each on the smallest model that produces it: a norm module (LayerNorm
// or an RMSNorm chain) or an activation, called from a root whose code decides what the norm's output feeds.
// The reason must say what is true of that code (its consumer, the node, the module), so each case checks the
// plan's validity and the words that name the cause.

#include <gtest/gtest.h>
#include <torch/script.h>

#include <string>
#include <vector>

#include "patcher/site_plans.h"

namespace lowmem {
namespace {

constexpr int64_t D = 8;

torch::jit::Module layerNorm(const std::string& type, bool affine = true) {
  torch::jit::Module m(type);
  if (affine) {
    m.register_parameter("weight", at::ones({D}), false);
    m.register_parameter("bias", at::zeros({D}), false);
    m.define("def forward(self, x):\n    return torch.layer_norm(x, [8], self.weight, self.bias, 1e-05)\n");
  } else {
    m.define("def forward(self, x):\n    return torch.layer_norm(x, [8], None, None, 1e-05)\n");
  }
  return m;
}

torch::jit::Module linear(const std::string& type, bool bias = true) {
  torch::jit::Module m(type);
  m.register_parameter("weight", at::randn({D, D}), false);
  if (bias) {
    m.register_parameter("bias", at::zeros({D}), false);
    m.define("def forward(self, x):\n    return torch.linear(x, self.weight, self.bias)\n");
  } else {
    m.define("def forward(self, x):\n    return torch.linear(x, self.weight)\n");
  }
  return m;
}

// A root with `norm` (a LayerNorm module) and `lin` (a linear), whose forward is `code`.
torch::jit::Module rootWith(const std::string& type, const std::string& code, bool normAffine = true,
                            bool linBias = true) {
  torch::jit::Module root(type);
  root.register_module("norm", layerNorm(type + "Norm", normAffine));
  root.register_module("lin", linear(type + "Linear", linBias));
  root.define(code);
  return root;
}

const SitePlan& planOf(const std::vector<SitePlan>& plans, SiteKind kind) {
  for (const auto& p : plans) {
    if (p.site.kind == kind) return p;
  }
  throw std::runtime_error("no site of that kind");
}

struct Case {
  const char* name;
  std::string code;
  bool valid;
  std::vector<std::string> words;  // each must appear in the reason
  std::set<std::string> trainable = {};
  bool normAffine = true;
  bool linBias = true;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class NormReason : public ::testing::TestWithParam<Case> {};

TEST_P(NormReason, SaysWhatTheCodeDoes) {
  const auto& c = GetParam();
  auto root = rootWith(std::string("Root_") + c.name, c.code, c.normAffine, c.linBias);
  const auto plans = planSites(root, c.trainable);
  const auto& plan = planOf(plans, SiteKind::kLayerNorm);
  EXPECT_EQ(plan.valid, c.valid) << plan.reason;
  for (const auto& w : c.words)
    EXPECT_NE(plan.reason.find(w), std::string::npos) << "'" << w << "' not in: " << plan.reason;
}

std::string forward(const std::string& body) {
  return "def forward(self, x):\n" + body;
}

INSTANTIATE_TEST_SUITE_P(
    EveryKind, NormReason,
    ::testing::Values(
        Case{"shares",
             forward("    return self.lin.forward(self.norm.forward(x))\n"),
             true,
             {"shares its saved output with lin.weight", "trainable, saves its input"},
             {"lin.weight"}},
        Case{"frozen",
             forward("    return self.lin.forward(self.norm.forward(x))\n"),
             true,
             {"no consumer saves its output", "every consuming weight is frozen"}},
        Case{"dropout_beta",
             forward("    return self.lin.forward(torch.dropout(self.norm.forward(x), 0.1, True))\n"),
             false,
             {"it feeds aten::dropout", "the mask would scale the folded bias"}},
        Case{"dropout_no_beta",
             forward("    return self.lin.forward(torch.dropout(self.norm.forward(x), 0.1, True))\n"),
             true,
             {"no consumer saves its output: lin.weight (trainable) saves the output of a dropout"},
             {"lin.weight"},
             false},
        Case{"other_op",
             forward("    return self.lin.forward(torch.relu(self.norm.forward(x)))\n"),
             false,
             {"it feeds aten::relu", "not a linear with a parameter weight"}},
        Case{"returned", forward("    return self.norm.forward(x)\n"), false, {"returned by the model"}},
        Case{"loop",
             forward("    y = self.norm.forward(x)\n    for _ in range(2):\n        y = "
                     "self.lin.forward(y)\n    return y\n"),
             false,
             {"it flows through a loop (prim::Loop)"}},
        Case{"computed_weight",
             forward("    return torch.linear(self.norm.forward(x), self.lin.weight * 2.0)\n"),
             false,
             {"whose weight is not a parameter (it comes from aten::mul)"}},
        Case{"other_reader",
             forward("    return self.lin.forward(self.norm.forward(x)) + torch.sum(self.lin.weight)\n"),
             false,
             {"its consumer's parameter lin.weight is also read by aten::sum",
              "would see the folded value without the norm"}},
        Case{"no_bias_for_beta",
             forward("    return torch.linear(self.norm.forward(x), self.lin.weight)\n"),
             false,
             {"consumer lin.weight has no bias to take the norm's beta"},
             {},
             true,
             false},
        Case{"addmm_scaled",
             forward(
                 "    return torch.addmm(self.lin.bias, self.norm.forward(x), self.lin.weight, beta=2.0)\n"),
             false,
             {"it feeds an addmm", "with beta or alpha set"}},
        Case{"unused",
             forward("    y = self.norm.forward(x)\n    return self.lin.forward(x) * y.size(-1)\n"),
             false,
             {"its output is not used"}},
        Case{"residual_elsewhere",
             forward("    return self.lin.forward(x) + self.norm.forward(x).view(-1, 8)\n"),
             false,
             {"it feeds a residual aten::add", "through a view", "(post-LN)"}}),
    [](const ::testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

// The one site of a root that calls `norm` (affine parameters, forward `normBody`) and then `lin` on it.
SitePlan onlySiteWithNorm(const std::string& type, const std::string& normBody) {
  torch::jit::Module norm(type + "Norm");
  norm.register_parameter("weight", at::ones({D}), false);
  norm.register_parameter("bias", at::zeros({D}), false);
  norm.define(forward(normBody));
  torch::jit::Module root(type);
  root.register_module("norm", norm);
  root.register_module("lin", linear(type + "Linear"));
  root.define(forward("    return self.lin.forward(self.norm.forward(x))\n"));
  const auto plans = planSites(root, {});
  if (plans.size() != 1) throw std::runtime_error("expected one site, found " + std::to_string(plans.size()));
  return plans.front();
}

// Why a norm is not rewritten at all: what its own code does.
TEST(NormReason, NormsWrittenInlineOrInModulesThatDoMore) {
  {
    torch::jit::Module root("RootInline");
    root.register_parameter("weight", at::ones({D}), false);
    root.register_parameter("bias", at::zeros({D}), false);
    root.register_module("lin", linear("RootInlineLinear"));
    root.define(
        forward("    return self.lin.forward(torch.layer_norm(x, [8], self.weight, self.bias, 1e-05))\n"));
    const auto plans = planSites(root, {});
    ASSERT_EQ(plans.size(), 1u);
    EXPECT_FALSE(plans.front().valid);
    EXPECT_NE(plans.front().reason.find("written in the root module's own code"), std::string::npos)
        << plans.front().reason;
  }
  const auto more = onlySiteWithNorm(
      "RootMore", "    return torch.relu(torch.layer_norm(x, [8], self.weight, self.bias, 1e-05))\n");
  EXPECT_FALSE(more.valid);
  EXPECT_NE(more.reason.find("module norm does more than the norm"), std::string::npos) << more.reason;
  // eps read from the input: nothing the rewrite could write into the code.
  const auto eps = onlySiteWithNorm(
      "RootEps", "    return torch.layer_norm(x, [8], self.weight, self.bias, float(x.size(0)) * 1e-05)\n");
  EXPECT_FALSE(eps.valid);
  EXPECT_NE(eps.reason.find("its normalized_shape or eps is not a constant or module attribute"),
            std::string::npos)
      << eps.reason;
}

// Tied weights: folding into one would change the other.
TEST(NormReason, TiedConsumerWeight) {
  torch::jit::Module root("RootTied");
  root.register_module("norm", layerNorm("RootTiedNorm"));
  auto lin = linear("RootTiedLinear");
  root.register_module("lin", lin);
  root.register_parameter("embedding", lin.attr("weight").toTensor(), false);
  root.define(
      forward("    return self.lin.forward(self.norm.forward(x)) + torch.embedding(self.embedding, "
              "x.long()).sum()\n"));
  const auto plans = planSites(root, {});
  const auto& plan = planOf(plans, SiteKind::kLayerNorm);
  EXPECT_FALSE(plan.valid);
  EXPECT_NE(plan.reason.find("is tied to"), std::string::npos) << plan.reason;
}

// Activations are judged by their form.
TEST(ActivationReason, TanhGeluAndInPlaceSilu) {
  torch::jit::Module root("RootActs");
  root.define(
      forward("    a = torch.gelu(x, approximate='tanh')\n    b = torch.silu_(x * 2.0)\n"
              "    c = torch.gelu(x)\n    return a + b + c\n"));
  const auto plans = planSites(root, {});
  int tanh = 0, inPlace = 0, exact = 0;
  for (const auto& p : plans) {
    if (p.site.kind == SiteKind::kGeluTanh) {
      ++tanh;
      EXPECT_FALSE(p.valid);
      EXPECT_NE(p.reason.find("GELU's tanh approximation"), std::string::npos) << p.reason;
    } else if (p.site.kind == SiteKind::kSilu) {
      ++inPlace;
      EXPECT_FALSE(p.valid);
      EXPECT_NE(p.reason.find("in-place SiLU (silu_) overwrites its input"), std::string::npos) << p.reason;
    } else if (p.site.kind == SiteKind::kGelu) {
      ++exact;
      EXPECT_TRUE(p.valid);
    }
  }
  EXPECT_EQ(tanh, 1);
  EXPECT_EQ(inPlace, 1);
  EXPECT_EQ(exact, 1);
}

}  // namespace
}  // namespace lowmem
