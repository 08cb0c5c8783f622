// Explicit attention in the forms model code writes it: each is found (or not) with the reason that says what
// the code does, and each valid one, rewritten to lowmem::attention, computes the same outputs and input
// gradients as the original in float64.

#include <gtest/gtest.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/script.h>

#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "kernels/attention_dropout.h"
#include "patcher/rewriter.h"
#include "patcher/site_plans.h"

namespace lowmem {
namespace {

constexpr int64_t B = 2, H = 3, S = 5, D = 4;

struct Case {
  const char* name;
  std::string scores;  // `s = ...` from q, k (and mask), then the lines up to `o`
  bool valid;
  std::string words;  // in the form (valid) or the reason (invalid)
  std::set<std::string> trainable = {};
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

torch::jit::Module dropoutModule(const std::string& type, double p) {
  torch::jit::Module m(type);
  m.register_attribute("training", c10::BoolType::get(), true);  // as nn.Module's: a fine-tuning step trains
  m.register_attribute("p", c10::FloatType::get(), p);
  m.define("def forward(self, x):\n    return torch.dropout(x, self.p, self.training)\n");
  return m;
}

// q, k, v from x by cheap elementwise ops (each needs x's gradient), the case's chain, then the head merge.
torch::jit::Module modelFor(const Case& c) {
  torch::jit::Module m(std::string("Attn_") + c.name);
  m.register_attribute("training", c10::BoolType::get(), true);
  m.register_module("drop", dropoutModule(std::string("Drop_") + c.name, 0.2));
  m.register_attribute("scale", c10::FloatType::get(), 0.5);
  m.register_attribute("denominator", c10::FloatType::get(), 2.0);
  // fp32 values: the op reads masks as fp32.
  m.register_parameter("table", at::linspace(-1, 1, S * S).to(at::kDouble).view({S, S}), false);
  m.define(
      "def forward(self, x, mask):\n"
      "    q = x + 0.5\n"
      "    k = x * 0.75\n"
      "    v = x - 0.25\n" +
      c.scores + "    return o.transpose(1, 2).reshape(" + std::to_string(B) + ", " + std::to_string(S) +
      ", " + std::to_string(H * D) + ")\n");
  m.to(at::kDouble);
  return m;
}

const SitePlan* attentionPlan(const std::vector<SitePlan>& plans) {
  for (const auto& p : plans) {
    if (p.site.kind == SiteKind::kAttention) return &p;
  }
  return nullptr;
}

class AttentionSite : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionSite, IsFoundWithItsFormOrReasonAndRewritesExactly) {
  const auto& c = GetParam();
  auto original = modelFor(c);
  const auto plans = planSites(original, c.trainable);
  const auto* plan = attentionPlan(plans);
  ASSERT_NE(plan, nullptr) << "no attention site found";
  EXPECT_EQ(plan->valid, c.valid) << plan->reason;
  const auto& text = c.valid ? plan->site.form : plan->reason;
  EXPECT_NE(text.find(c.words), std::string::npos) << "'" << c.words << "' not in: " << text;
  if (!c.valid) return;
  // A chain that drops says so, with the rate the rewrite passes on.
  if (plan->site.form.find("dropout") != std::string::npos) {
    EXPECT_NE(plan->reason.find("drops probabilities inside the op"), std::string::npos) << plan->reason;
  }

  auto patched = modelFor(c);
  applyRewrites(patched, {*plan});
  const auto graph = patched.get_method("forward").graph();
  int ops = 0, softmaxes = 0;
  for (const auto* n : graph->nodes()) {
    ops += n->kind() == c10::Symbol::fromQualString("lowmem::attention");
    softmaxes += n->kind() == c10::aten::softmax;
  }
  EXPECT_EQ(ops, 1);
  EXPECT_EQ(softmaxes, 0);
  // Nothing computes the scores any more (a read of their dtype or device reads q's).
  for (const auto* n : graph->nodes())
    EXPECT_NE(n->kind(), c10::aten::matmul) << *n;

  at::manual_seed(3);
  const auto x = at::randn({B, H, S, D}, at::kDouble);
  const auto mask = at::where(at::rand({B, 1, 1, S}) < 0.3, -1e4, 0.0).to(at::kDouble);
  // The output and the gradients of the input and, where it trains, of the table a learned mask reads.
  const auto run = [&](torch::jit::Module& m) {
    auto in = x.clone().requires_grad_(true);
    auto table = m.attr("table").toTensor();
    table.requires_grad_(c.trainable.count("table") > 0);
    table.mutable_grad().reset();
    at::manual_seed(8);
    auto out = m.forward({in, mask}).toTensor();
    (out * at::linspace(-1, 1, out.numel(), at::kDouble).view(out.sizes())).sum().backward();
    return std::vector<at::Tensor>{out.detach(), in.grad(),
                                   table.grad().defined() ? table.grad() : at::zeros({1})};
  };
  const auto expectSame = [](const std::vector<at::Tensor>& got, const std::vector<at::Tensor>& want) {
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_TRUE(at::allclose(got[i], want[i], 1e-12, 1e-12))
          << i << " " << (got[i] - want[i]).abs().max().item<double>();
  };
  // Training: the op drops with the samples the chain's dropout draws (as the verifier has it), so a dropout
  // the rewrite failed to pass on would show.
  {
    const kernels::DropoutAsAten asAten;
    expectSame(run(patched), run(original));
  }
  // Evaluation: the op reads the module's training flag as the dropout did, and drops nothing.
  original.eval();
  patched.eval();
  const auto got = run(patched);
  expectSame(got, run(original));
  // The output is stored heads-inner, so the merge above is a view of it.
  EXPECT_TRUE(got[0].is_contiguous());
}

INSTANTIATE_TEST_SUITE_P(
    CodeForms, AttentionSite,
    ::testing::Values(
        Case{"bundled",
             "    p = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * 0.125, -1)\n"
             "    o = torch.matmul(p, v)\n",
             true, "matmul/mul/softmax/matmul"},
        Case{"hf_llama",
             "    s = torch.matmul(q, k.transpose(2, 3)) / self.denominator\n"
             "    s = s + mask\n"
             "    p = torch.softmax(s, -1, 7).to(q.dtype)\n"
             "    o = torch.matmul(p, v)\n",
             true, "matmul/div/add/softmax/to/matmul"},
        Case{"timm",
             "    p = self.drop.forward(((q * self.scale) @ k.transpose(-2, -1)).softmax(-1))\n"
             "    o = p @ v\n",
             true, "mul/matmul/softmax/dropout/matmul"},
        Case{"unscaled_cast_in",
             "    o = torch.matmul(torch.softmax(torch.matmul(q, k.transpose(-1, -2)).to(7), -1), v)\n", true,
             "matmul/to/softmax/matmul"},
        Case{"dropout",
             "    p = torch.dropout(torch.softmax(torch.matmul(q, k.transpose(-2, -1)), -1), 0.1, "
             "self.training)\n"
             "    o = torch.matmul(p, v)\n",
             true, "matmul/softmax/dropout/matmul"},
        Case{"masked_fill",
             "    s = torch.matmul(q, k.transpose(-2, -1)).masked_fill(mask < -1.0, -1e4)\n"
             "    o = torch.matmul(torch.softmax(s, -1), v)\n",
             true, "matmul/masked_fill/softmax/matmul"},
        Case{"masked_fill_inf_after_scale",
             "    s = (torch.matmul(q, k.transpose(-2, -1)) / self.denominator).masked_fill(mask < -1.0, "
             "float('-inf'))\n"
             "    o = torch.matmul(torch.softmax(s, -1), v)\n",
             true, "matmul/div/masked_fill/softmax/matmul"},
        Case{"masked_fill_small_fill",
             "    s = torch.matmul(q, k.transpose(-2, -1)).masked_fill(mask < -1.0, -1.0)\n"
             "    o = torch.matmul(torch.softmax(s, -1), v)\n",
             false, "its masked_fill value is not -inf or a constant at most -1e4"},
        // HF GPT-2's causal form (dtype 11: bool), the fill a tensor made with the scores' dtype and device.
        Case{"gpt2_where",
             "    w = torch.matmul(q, k.transpose(-1, -2)) / self.denominator\n"
             "    causal = torch.ones([5, 5], dtype=11, device=w.device).tril()\n"
             "    w = torch.where(causal, w, torch.tensor(-1e4, dtype=w.dtype, device=w.device))\n"
             "    o = torch.matmul(torch.softmax(w, -1), v)\n",
             true, "matmul/div/where/softmax/matmul"},
        Case{"where_fill_first",
             "    s = torch.matmul(q, k.transpose(-2, -1))\n"
             // The fill moved and detached, as a trace records `torch.tensor(c, dtype=..., device=...)`.
             "    s = torch.where(mask < -1.0, torch.full([1], float('-inf')).to(s.dtype).detach(), s)\n"
             "    o = torch.matmul(torch.softmax(s, -1), v)\n",
             true, "matmul/where/softmax/matmul"},
        Case{"learned_mask",
             "    s = torch.matmul(q, k.transpose(-2, -1)) + self.table\n"
             "    o = torch.matmul(torch.softmax(s, -1), v)\n",
             true,
             "matmul/add/softmax/matmul",
             {"table"}},
        Case{"frozen_table_mask",
             "    s = torch.matmul(q, k.transpose(-2, -1)) + self.table\n"
             "    o = torch.matmul(torch.softmax(s, -1), v)\n",
             true, "matmul/add/softmax/matmul"},
        // F.multi_head_attention_forward's: heads folded into the batch, q scaled by a value computed from
        // its shape, the scores chosen by `mask is not None`, the dropout under `if dropout_p > 0.0` with the
        // probability zeroed out of training. The mask is known only at run time here, so the analysis of the
        // whole model sees the If too.
        Case{"mha_functional",
             "    q3 = q.reshape(6, 5, 4)\n"
             "    k3 = k.reshape(6, 5, 4)\n"
             "    v3 = v.reshape(6, 5, 4)\n"
             "    m: Optional[Tensor] = None\n"
             "    if bool(mask.sum() < 1e9):\n"
             "        m = mask.expand(2, 3, 5, 5).reshape(6, 5, 5)\n"
             "    dropout_p = self.drop.p\n"
             "    if not self.training:\n"
             "        dropout_p = 0.0\n"
             "    qs = q3 / (q3.size(-1) ** 0.5)\n"
             "    if m is not None:\n"
             "        s = torch.baddbmm(m, qs, k3.transpose(-2, -1))\n"
             "    else:\n"
             "        s = torch.bmm(qs, k3.transpose(-2, -1))\n"
             "    p = torch.softmax(s, -1)\n"
             "    if dropout_p > 0.0:\n"
             "        p = torch.dropout(p, dropout_p, True)\n"
             "    o = torch.bmm(p, v3).view(2, 3, 5, 4)\n",
             true, "div/baddbmm mask (if given)/softmax/dropout (under if)/bmm"},
        // Swin's shifted windows: the scores [B·nW, H, S, S] viewed [B, nW, H, S, S] for a mask over the
        // windows, then viewed back; scripted, under an If that only shifted blocks take (both branches run
        // here), and as a trace records it. The learned bias beside it takes its gradient through the op.
        Case{"window_mask_shifted",
             "    s = torch.matmul(q * 0.5, k.transpose(-2, -1)) + self.table\n"
             "    if bool(mask.sum() < 1e9):\n"
             "        w = mask.view(1, 2, 1, 1, 5)\n"
             "        s = (s.view(1, 2, 3, 5, 5) + w).view(-1, 3, 5, 5)\n"
             "    o = torch.matmul(torch.softmax(s, -1), v)\n",
             true,
             "mul/matmul/add/add window mask (under if)/softmax/matmul",
             {"table"}},
        Case{"window_mask_unshifted",
             "    s = torch.matmul(q * 0.5, k.transpose(-2, -1)) + self.table\n"
             "    if bool(mask.sum() > 1e9):\n"
             "        s = (s.view(1, 2, 3, 5, 5) + mask.view(1, 2, 1, 1, 5)).view(-1, 3, 5, 5)\n"
             "    o = torch.matmul(torch.softmax(s, -1), v)\n",
             true,
             "add window mask (under if)",
             {"table"}},
        Case{"window_mask_traced",
             "    s = torch.matmul(q * 0.5, k.transpose(-2, -1)) + self.table\n"
             "    s = (s.view(1, 2, 3, 5, 5) + mask.view(1, 2, 1, 1, 5)).view(-1, 3, 5, 5)\n"
             "    o = torch.matmul(torch.softmax(s, -1), v)\n",
             true, "mul/matmul/add/add window mask/softmax/matmul"},
        Case{"window_mask_alone",
             "    s = torch.matmul(q, k.transpose(-2, -1)).view(1, 2, 3, 5, 5) + mask.view(1, 2, 1, 1, 5)\n"
             "    o = torch.matmul(torch.softmax(s.view(2, 3, 5, 5), -1), v)\n",
             true, "matmul/add window mask/softmax/matmul"},
        // The op takes one mask: a window mask beside a boolean one cannot be summed into it.
        Case{"window_mask_with_boolean_mask",
             "    s = torch.matmul(q, k.transpose(-2, -1)).masked_fill(mask < -1.0, -1e4)\n"
             "    s = (s.view(1, 2, 3, 5, 5) + mask.view(1, 2, 1, 1, 5)).view(-1, 3, 5, 5)\n"
             "    o = torch.matmul(torch.softmax(s, -1), v)\n",
             false, "its window mask comes with a boolean, optional or fused mask"},
        Case{"window_mask_scaled_add",
             "    s = torch.add(torch.matmul(q, k.transpose(-2, -1)).view(1, 2, 3, 5, 5), mask.view(1, 2, 1, "
             "1, 5), "
             "alpha=2)\n"
             "    o = torch.matmul(torch.softmax(s.view(2, 3, 5, 5), -1), v)\n",
             false, "its window mask is added with alpha != 1"},
        // HF's `if attention_mask is not None: scores = scores + attention_mask`.
        Case{"optional_mask_add",
             "    m: Optional[Tensor] = None\n"
             "    if bool(mask.sum() < 1e9):\n"
             "        m = mask\n"
             "    s = torch.matmul(q, k.transpose(-2, -1)) / self.denominator\n"
             "    if m is not None:\n"
             "        s = s + m\n"
             "    o = torch.matmul(torch.softmax(s, -1), v)\n",
             true, "matmul/div/add mask (if given)/softmax/matmul"}));

TEST(AttentionSite, ProbabilitiesUsedElsewhereAreNoSite) {
  Case c{"returned_probs",
         "    p = torch.softmax(torch.matmul(q, k.transpose(-2, -1)), -1)\n"
         "    o = torch.matmul(p, v) + torch.sum(p)\n",
         false, ""};
  EXPECT_EQ(attentionPlan(planSites(modelFor(c), {})), nullptr);
}

// A module returning its probabilities when its caller asks (nn.MultiheadAttention's need_weights), or
// always, called by another that keeps only the output (or, `reads`, that reads the weights too).
torch::jit::Module weightsReturningModel(const std::string& returns, const std::string& callerPasses,
                                         bool reads = false) {
  torch::jit::Module inner("ReturnsWeights");
  inner.register_attribute("training", c10::BoolType::get(), true);
  inner.define(
      "def forward(self, q, k, v, need_weights: bool) -> Tuple[Tensor, Optional[Tensor]]:\n"
      "    p = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * 0.5, -1)\n"
      "    o = torch.matmul(p, v)\n" +
      returns);
  torch::jit::Module outer("CallsIt");
  outer.register_attribute("training", c10::BoolType::get(), true);
  outer.register_module("attn", inner);
  outer.define(
      "def forward(self, x, asks: bool):\n    r = self.attn.forward(x + 0.5, x * 0.75, x - 0.25, " +
      callerPasses + ")\n" +
      (reads ? "    w = r[1]\n    assert w is not None\n    return r[0] + w.sum()\n" : "    return r[0]\n"));
  outer.to(at::kDouble);
  return outer;
}

// The outer model's output and input gradient in float64 (asks: its second argument).
std::vector<at::Tensor> outputAndInputGradient(torch::jit::Module& m, const at::Tensor& x, bool asks) {
  auto in = x.clone().requires_grad_(true);
  auto out = m.forward({in, asks}).toTensor();
  (out * at::linspace(-1, 1, out.numel(), at::kDouble).view(out.sizes())).sum().backward();
  return {out.detach(), in.grad()};
}

void expectSameInFloat64(const std::vector<at::Tensor>& got, const std::vector<at::Tensor>& want) {
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_TRUE(at::allclose(got[i], want[i], 1e-12, 1e-12)) << i;
}

const std::string kReturnsWhenAsked =
    "    if need_weights:\n"
    "        return o, p.sum(1)\n"
    "    return o, None\n";

// The rewrite keeps the chain for the calls that ask and swaps it for the others: the caller that passes
// False gets the op, a direct call asking for the weights still gets the chain's.
TEST(AttentionSite, ProbabilitiesReturnedOnRequestKeepTheChainForThoseCalls) {
  auto original = weightsReturningModel(kReturnsWhenAsked, "False");
  const auto plans = planSites(original, {});
  const auto* plan = attentionPlan(plans);
  ASSERT_NE(plan, nullptr);
  ASSERT_TRUE(plan->valid) << plan->reason;
  EXPECT_EQ(plan->site.modulePath, "attn");
  auto patched = weightsReturningModel(kReturnsWhenAsked, "False");
  applyRewrites(patched, {*plan});
  const auto graph = patched.attr("attn").toModule().get_method("forward").graph();
  const torch::jit::Node* choice = nullptr;
  for (auto* n : graph->nodes()) {
    if (n->kind() == c10::prim::If && n->outputs().size() == 2) choice = n;
  }
  ASSERT_NE(choice, nullptr) << *graph;
  const auto kinds = [](const torch::jit::Block* b) {
    std::set<c10::Symbol> out;
    for (const auto* n : b->nodes())
      out.insert(n->kind());
    return out;
  };
  EXPECT_TRUE(kinds(choice->blocks()[0]).count(c10::aten::softmax)) << *graph;
  EXPECT_TRUE(kinds(choice->blocks()[1]).count(c10::Symbol::fromQualString("lowmem::attention"))) << *graph;

  at::manual_seed(5);
  const auto x = at::randn({B, H, S, D}, at::kDouble);
  expectSameInFloat64(outputAndInputGradient(patched, x, false), outputAndInputGradient(original, x, false));
  auto asked = patched.attr("attn").toModule().forward({x, x, x, true}).toTuple();
  auto reference = original.attr("attn").toModule().forward({x, x, x, true}).toTuple();
  EXPECT_TRUE(at::allclose(asked->elements()[1].toTensor(), reference->elements()[1].toTensor(), 0, 0));
  EXPECT_TRUE(at::allclose(asked->elements()[0].toTensor(), reference->elements()[0].toTensor(), 0, 0));
}

// DETR's `self_attn(q, k, value=src)[0]` leaves need_weights at its default True and drops the weights: the
// rewrite makes that call pass False, which changes nothing the caller reads, and it runs the op.
TEST(AttentionSite, ACallerThatAsksForTheProbabilitiesAndDropsThemPassesFalse) {
  auto original = weightsReturningModel(kReturnsWhenAsked, "True");
  const auto plans = planSites(original, {});
  const auto* plan = attentionPlan(plans);
  ASSERT_NE(plan, nullptr);
  ASSERT_TRUE(plan->valid) << plan->reason;
  EXPECT_NE(
      plan->reason.find("the call in the root passes need_weights=True and drops what it returns for it"),
      std::string::npos)
      << plan->reason;
  auto patched = weightsReturningModel(kReturnsWhenAsked, "True");
  applyRewrites(patched, {*plan});
  int passesFalse = 0;
  for (const auto* n : patched.get_method("forward").graph()->nodes()) {
    if (n->kind() != c10::prim::CallMethod) continue;
    const auto asked = torch::jit::toIValue(n->input(4));
    passesFalse += asked && asked->isBool() && !asked->toBool();
  }
  EXPECT_EQ(passesFalse, 1);
  at::manual_seed(6);
  const auto x = at::randn({B, H, S, D}, at::kDouble);
  expectSameInFloat64(outputAndInputGradient(patched, x, true), outputAndInputGradient(original, x, true));
}

// A plan whose asking caller the rewrite cannot find (the planner and the rewriter disagreeing) is refused in
// one line naming it, before anything is saved.
TEST(AttentionSite, AnAskingCallerTheRewriteCannotFindIsAnError) {
  const auto plans = planSites(weightsReturningModel(kReturnsWhenAsked, "True"), {});
  const auto* found = attentionPlan(plans);
  ASSERT_NE(found, nullptr);
  ASSERT_TRUE(found->valid) << found->reason;
  const auto refusal = [](SitePlan plan) {
    auto model = weightsReturningModel(kReturnsWhenAsked, "True");
    try {
      applyRewrites(model, {plan});
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  SitePlan elsewhere = *found;
  elsewhere.attention.askingCallers = {"other"};
  EXPECT_NE(refusal(elsewhere).find("attn is called from other, which does not hold it"), std::string::npos)
      << refusal(elsewhere);
  SitePlan otherArgument = *found;
  otherArgument.attention.askArgument = 0;  // q, a tensor: no call passes True there
  EXPECT_NE(
      refusal(otherArgument).find("no call of attn passing need_weights=True found in the code of the root"),
      std::string::npos)
      << refusal(otherArgument);
}

TEST(AttentionSite, ACallerThatReadsTheProbabilitiesOrCodeThatAlwaysReturnsThemIsInvalid) {
  const auto readsPlans = planSites(weightsReturningModel(kReturnsWhenAsked, "True", /*reads=*/true), {});
  // The weights read after the call: the whole model's analysis sees the probabilities used twice, no site.
  EXPECT_EQ(attentionPlan(readsPlans), nullptr);
  const auto unknownPlans = planSites(weightsReturningModel(kReturnsWhenAsked, "asks"), {});
  const auto* unknown = attentionPlan(unknownPlans);
  ASSERT_NE(unknown, nullptr);
  EXPECT_FALSE(unknown->valid);
  EXPECT_NE(unknown->reason.find("a call passes a value not known before it runs"), std::string::npos)
      << unknown->reason;
  const auto alwaysPlans = planSites(weightsReturningModel("    return o, p.sum(1)\n", "False"), {});
  const auto* always = attentionPlan(alwaysPlans);
  ASSERT_NE(always, nullptr);
  EXPECT_FALSE(always->valid);
  EXPECT_NE(always->reason.find("reads the probabilities elsewhere too"), std::string::npos)
      << always->reason;
}

}  // namespace
}  // namespace lowmem
