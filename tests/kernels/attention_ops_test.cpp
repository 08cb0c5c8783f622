// lowmem::attention against float64 autograd of the unfused chain softmax(q kᵀ · scale + mask) v: outputs and
// all three input gradients, at odd sizes, with padding, boolean and causal masks, fully masked rows and
// bf16; dropout drawn as aten::dropout's when the verifier asks, and as a Philox stream otherwise (its rate,
// its repeatability under torch.manual_seed, backward against the float64 chain under the same mask); and
// what it keeps for backward, measured.

#include <gtest/gtest.h>
#include <torch/script.h>

#include <functional>
#include <limits>

#include "kernels/attention_dropout.h"
#include "tests/kernels/op_handles.h"
#include "tests/support/memory_counter.h"

namespace lowmem::testing {
namespace {

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const c10::optional<at::Tensor>& mask = c10::nullopt,
                     c10::optional<double> scale = c10::nullopt, bool causal = false, double dropoutP = 0) {
  return op<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                       const c10::optional<at::Tensor>&, c10::optional<double>, bool, double)>(
             "lowmem::attention")
      .call(q, k, v, mask, scale, causal, dropoutP);
}

// The chain as models write it, in whatever dtype it is given; `dropout` as F.dropout in training.
at::Tensor unfused(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                   const c10::optional<at::Tensor>& mask, double scale, bool causal, double dropout = 0) {
  auto s = at::matmul(q, k.transpose(-2, -1)) * scale;
  if (mask) s = mask->scalar_type() == at::kBool ? s.masked_fill(mask->logical_not(), -INFINITY) : s + *mask;
  if (causal) {
    const auto keep = at::ones({q.size(-2), k.size(-2)}, at::kBool).tril();
    s = s.masked_fill(keep.logical_not(), -INFINITY);
  }
  auto p = at::softmax(s, -1);
  return at::matmul(dropout > 0 ? at::dropout(p, dropout, true) : p, v);
}

// A fresh leaf of `t` in `dtype` (t.to(kDouble) would be t itself, and a second dtype's copy a non-leaf).
at::Tensor leafAs(const at::Tensor& t, at::ScalarType dtype) {
  return t.detach().to(dtype).clone().requires_grad_();
}

// The op's output and q, k, v gradients against the float64 reference's, each within `tol`.
void expectAgree(at::ScalarType dtype, double tol, const std::vector<at::Tensor>& got,
                 const std::vector<at::Tensor>& want) {
  const char* names[] = {"out", "dq", "dk", "dv"};
  for (size_t i = 0; i < got.size(); ++i) {
    const auto g = got[i].to(at::kDouble);
    EXPECT_TRUE(at::allclose(g, want[i], tol, tol))
        << dtype << " " << names[i] << " " << (g - want[i]).abs().max().item<double>();
  }
}

struct Case {
  const char* name;
  std::vector<int64_t> batch;
  int64_t sq, sk, d, dv;
  bool causal = false;
  int maskKind = 0;  // 0 none, 1 BERT-style padding [B,1,1,sk], 2 boolean [sq, sk]
};

const std::vector<Case> kCases = {
    {"odd sizes", {3}, 7, 13, 5, 3},
    {"ViT-like", {2, 3}, 17, 17, 16, 16},
    {"padding mask", {2, 4}, 9, 9, 8, 8, false, 1},
    {"boolean mask", {2}, 6, 11, 4, 7, false, 2},
    {"causal", {2, 2}, 12, 12, 8, 8, true},
    {"long keys", {1}, 3, 300, 24, 24},
    // 65,536 scores a block: 93 query rows against 700 keys, so 300 rows take four blocks, the last partial.
    {"several blocks, causal", {2}, 300, 700, 8, 8, true},
    {"several blocks, padding", {2, 1}, 300, 700, 8, 4, false, 1},
};

c10::optional<at::Tensor> maskFor(const Case& c, at::ScalarType dtype) {
  if (c.maskKind == 1) {
    // The last two keys of the second sample are padding.
    auto m = at::zeros({c.batch[0], 1, 1, c.sk}, dtype);
    m.index_put_({1, 0, 0, at::indexing::Slice(c.sk - 2, at::indexing::None)}, -1e9);
    return m;
  }
  if (c.maskKind == 2) return at::rand({c.sq, c.sk}) > 0.3;  // may mask a whole row: checked apart
  return c10::nullopt;
}

std::vector<int64_t> shape(const std::vector<int64_t>& batch, int64_t a, int64_t b) {
  auto s = batch;
  s.push_back(a);
  s.push_back(b);
  return s;
}

// A case's float64 q, k, v, output gradient and mask (every row of a boolean mask keeps a key).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, c10::optional<at::Tensor>> drawCase(
    const Case& c) {
  auto q = at::randn(shape(c.batch, c.sq, c.d), at::kDouble);
  auto k = at::randn(shape(c.batch, c.sk, c.d), at::kDouble);
  auto v = at::randn(shape(c.batch, c.sk, c.dv), at::kDouble);
  auto g = at::randn(shape(c.batch, c.sq, c.dv), at::kDouble);
  auto mask = maskFor(c, at::kDouble);
  if (c.maskKind == 2) mask->index_put_({at::indexing::Slice(), 0}, true);
  return {q, k, v, g, mask};
}

TEST(Attention, MatchesFloat64AutogradOfTheUnfusedChain) {
  at::manual_seed(0);
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    const auto [q, k, v, g, mask] = drawCase(c);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
    // Reference: float64 autograd of the chain.
    auto q64 = q.clone().requires_grad_(), k64 = k.clone().requires_grad_(), v64 = v.clone().requires_grad_();
    auto ref = unfused(q64, k64, v64, mask, scale, c.causal);
    ref.backward(g);
    ASSERT_TRUE(q64.grad().defined()) << "reference";
    // fp64 op: agreement to rounding; fp32 op: to fp32 rounding.
    for (auto dtype : {at::kDouble, at::kFloat}) {
      const double tol = dtype == at::kDouble ? 1e-10 : 2e-5;
      auto qd = leafAs(q, dtype), kd = leafAs(k, dtype), vd = leafAs(v, dtype);
      c10::optional<at::Tensor> md;
      if (mask) md = mask->scalar_type() == at::kBool ? *mask : mask->to(dtype);
      auto out = attention(qd, kd, vd, md, c10::nullopt, c.causal);
      out.backward(g.to(dtype));
      expectAgree(dtype, tol, {out, qd.grad(), kd.grad(), vd.grad()},
                  {ref, q64.grad(), k64.grad(), v64.grad()});
    }
  }
}

// Heads as model code makes them: projections [B, S, H, D] transposed to [B, H, S, D], and the output stored
// heads-inner so that the usual merge, o.transpose(1, 2).reshape(B, S, H·D), is a view. Read and written in
// place, in float64 against the chain's autograd.
TEST(Attention, TransposedHeadsAreReadInPlaceAndTheOutputMergesAsAView) {
  at::manual_seed(4);
  const int64_t B = 2, S = 37, H = 3, D = 8;
  const auto heads = [&] { return at::randn({B, S, H, D}, at::kDouble).requires_grad_(); };
  auto qs = heads(), ks = heads(), vs = heads();
  const auto g = at::randn({B, S, H * D}, at::kDouble);
  auto ref = unfused(qs.transpose(1, 2), ks.transpose(1, 2), vs.transpose(1, 2), c10::nullopt, 0.3, false)
                 .transpose(1, 2)
                 .reshape({B, S, H * D});
  ref.backward(g);
  const auto want = std::vector<at::Tensor>{ref.detach(), qs.grad(), ks.grad(), vs.grad()};
  auto q = qs.detach().clone().requires_grad_(), k = ks.detach().clone().requires_grad_(),
       v = vs.detach().clone().requires_grad_();
  auto o = attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), c10::nullopt, 0.3, false);
  const auto merged = o.transpose(1, 2).reshape({B, S, H * D});
  EXPECT_EQ(merged.data_ptr(), o.data_ptr()) << "the merge copied the output";
  merged.backward(g);
  const auto got = std::vector<at::Tensor>{merged.detach(), q.grad(), k.grad(), v.grad()};
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_TRUE(at::allclose(got[i], want[i], 1e-10, 1e-10))
        << i << " " << (got[i] - want[i]).abs().max().item<double>();
}

// Swin's shifted windows as the rewrite passes them: q, k, v [B·nW, H, N, D] viewed [B, nW, H, N, D], the
// mask the window mask [1, nW, 1, N, N] plus the learned bias [1, H, N, N] (one per window, the same for
// every image: a batch index's mask repeats every nW slices), the output flattened back and merged as a view.
// In float64 against the chain's autograd as Swin writes it (the scores viewed 5-d, the window mask added,
// viewed back), the bias's gradient included.
TEST(Attention, WindowsViewedWithTheirBatchSplitTakeOneMaskPerWindow) {
  at::manual_seed(9);
  const int64_t B = 2, W = 3, H = 2, N = 7, D = 4;
  const auto heads = [&] { return at::randn({B * W, N, H, D}, at::kDouble).requires_grad_(); };
  auto qs = heads(), ks = heads(), vs = heads();
  // fp32 values: the op reads masks as fp32.
  auto bias = at::randn({1, H, N, N}).to(at::kDouble).requires_grad_();
  const auto window = at::where(at::rand({1, W, 1, N, N}) < 0.3, -100.0, 0.0).to(at::kDouble);
  const auto g = at::randn({B * W, N, H * D}, at::kDouble);
  auto s = at::matmul(qs.transpose(1, 2) * 0.5, ks.transpose(1, 2).transpose(-2, -1)) + bias;
  s = (s.view({B, W, H, N, N}) + window).view({-1, H, N, N});
  auto ref = at::matmul(at::softmax(s, -1), vs.transpose(1, 2)).transpose(1, 2).reshape({B * W, N, H * D});
  ref.backward(g);
  const auto want = std::vector<at::Tensor>{ref.detach(), qs.grad(), ks.grad(), vs.grad(), bias.grad()};

  auto q = qs.detach().clone().requires_grad_(), k = ks.detach().clone().requires_grad_(),
       v = vs.detach().clone().requires_grad_(), b = bias.detach().clone().requires_grad_();
  const auto split = [&](const at::Tensor& t) { return t.transpose(1, 2).unflatten(0, {B, W}); };
  auto o = attention(split(q), split(k), split(v), window + b, 0.5, false).flatten(0, 1);
  const auto merged = o.transpose(1, 2).reshape({B * W, N, H * D});
  EXPECT_EQ(merged.data_ptr(), o.data_ptr()) << "the merge copied the output";
  merged.backward(g);
  const auto got = std::vector<at::Tensor>{merged.detach(), q.grad(), k.grad(), v.grad(), b.grad()};
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(got[i].defined()) << i;
    EXPECT_TRUE(at::allclose(got[i], want[i], 1e-10, 1e-10))
        << i << " " << (got[i] - want[i]).abs().max().item<double>();
  }
}

TEST(Attention, Bfloat16AgreesWithTheFloat64ChainToBfloat16Rounding) {
  at::manual_seed(1);
  auto q = at::randn({2, 4, 33, 32}, at::kDouble), k = at::randn({2, 4, 33, 32}, at::kDouble);
  auto v = at::randn({2, 4, 33, 32}, at::kDouble), g = at::randn({2, 4, 33, 32}, at::kDouble);
  auto q64 = q.clone().requires_grad_(), k64 = k.clone().requires_grad_(), v64 = v.clone().requires_grad_();
  auto ref = unfused(q64, k64, v64, c10::nullopt, 1.0 / std::sqrt(32.0), true);
  ref.backward(g);
  auto qb = q.to(at::kBFloat16).requires_grad_(), kb = k.to(at::kBFloat16).requires_grad_();
  auto vb = v.to(at::kBFloat16).requires_grad_();
  auto out = attention(qb, kb, vb, c10::nullopt, c10::nullopt, true);
  out.backward(g.to(at::kBFloat16));
  EXPECT_EQ(out.scalar_type(), at::kBFloat16);
  // bf16 keeps 8 bits of mantissa: inputs, output and gradients rounded, arithmetic in fp32.
  for (const auto& [got, want] : std::vector<std::pair<at::Tensor, at::Tensor>>{
           {out, ref}, {qb.grad(), q64.grad()}, {kb.grad(), k64.grad()}, {vb.grad(), v64.grad()}}) {
    const double err = (got.to(at::kDouble) - want).abs().max().item<double>();
    EXPECT_LT(err, 0.05 * std::max(1.0, want.abs().max().item<double>())) << err;
  }
}

TEST(Attention, AFullyMaskedRowGivesZeroAndNoGradientWhereTheChainGivesNaN) {
  auto q = at::randn({1, 4, 8}, at::kDouble).requires_grad_(),
       k = at::randn({1, 5, 8}, at::kDouble).requires_grad_();
  auto v = at::randn({1, 5, 8}, at::kDouble).requires_grad_();
  auto mask = at::ones({4, 5}, at::kBool);
  mask.index_put_({2}, false);  // query 2 may see no key
  auto out = attention(q, k, v, mask);
  EXPECT_TRUE(at::isnan(unfused(q.detach(), k.detach(), v.detach(), mask, 1 / std::sqrt(8.0), false))
                  .any()
                  .item<bool>());
  EXPECT_EQ(out.index({0, 2}).abs().max().item<double>(), 0.0);
  EXPECT_FALSE(at::isnan(out).any().item<bool>());
  out.sum().backward();
  EXPECT_EQ(q.grad().index({0, 2}).abs().max().item<double>(), 0.0);
  EXPECT_FALSE(at::isnan(k.grad()).any().item<bool>());
  // The other rows are the chain's.
  auto rest = at::tensor({0, 1, 3});
  EXPECT_TRUE(at::allclose(
      out.index_select(1, rest),
      unfused(q.detach(), k.detach(), v.detach(), mask, 1 / std::sqrt(8.0), false).index_select(1, rest),
      1e-10, 1e-10));
}

TEST(Attention, KeepsNoProbabilitiesForBackward) {
  // ViT-B/16's shape at batch 2: the chain keeps 2·12·197² fp32 probabilities (3.7 MB) and more; this op
  // keeps its output and one fp32 per query row beyond the inputs it was given.
  const int64_t b = 2, h = 12, s = 197, d = 64;
  auto q = at::randn({b, h, s, d}).requires_grad_(), k = at::randn({b, h, s, d}).requires_grad_();
  auto v = at::randn({b, h, s, d}).requires_grad_();
  // With dropout too: the mask is redrawn from the seed in backward, never kept.
  for (double p : {0.0, 0.1}) {
    CountingScope scope;
    auto out = attention(q, k, v, c10::nullopt, c10::nullopt, false, p);
    EXPECT_EQ(scope.counter().liveBytes(), b * h * s * d * 4 + b * h * s * 4) << p;  // output and lse
    out.sum().backward();
  }
  EXPECT_TRUE(q.grad().defined() && k.grad().defined() && v.grad().defined());
}

// What backward needs beyond q, k, v, o and the log-sum-exp (the mask; under DropoutAsAten the kept samples,
// saved the same way) is released once this op's backward has run, as autograd releases any saved tensor,
// while the graph that holds the op's node lives on: the reference left is the caller's own.
TEST(Attention, ReleasesTheMaskAndKeptSamplesAfterItsBackward) {
  auto q = at::randn({2, 3, 7, 8}).requires_grad_(), k = at::randn({2, 3, 7, 8}).requires_grad_();
  auto v = at::randn({2, 3, 7, 8}).requires_grad_();
  const auto mask = at::where(at::rand({2, 1, 1, 7}) < 0.3, -1e4, 0.0).to(at::kFloat);
  const kernels::DropoutAsAten asAten;
  auto out = attention(q, k, v, mask, c10::nullopt, false, 0.25);
  EXPECT_GT(mask.use_count(), 1);  // saved by the op
  out.sum().backward();
  ASSERT_TRUE(out.grad_fn());
  EXPECT_EQ(mask.use_count(), 1);
}

// Under DropoutAsAten the op's mask is the one aten::dropout draws for the chain's probabilities at the same
// point of the generator's stream: the float64 chain with F.dropout, from the same seed, is the reference for
// the output and all three gradients, in fp64 and fp32; the generator is left where the chain leaves it.
TEST(Attention, DropoutAsAtenDrawsTheChainsMaskAndMatchesItsAutograd) {
  at::manual_seed(5);
  const double p = 0.3;
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    const auto [q, k, v, g, mask] = drawCase(c);
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
    auto q64 = q.clone().requires_grad_(), k64 = k.clone().requires_grad_(), v64 = v.clone().requires_grad_();
    at::manual_seed(11);
    auto ref = unfused(q64, k64, v64, mask, scale, c.causal, p);
    const auto after = at::randn({4}, at::kDouble);  // where the chain leaves the generator
    ref.backward(g);
    for (auto dtype : {at::kDouble, at::kFloat}) {
      const double tol = dtype == at::kDouble ? 1e-10 : 3e-5;
      auto qd = leafAs(q, dtype), kd = leafAs(k, dtype), vd = leafAs(v, dtype);
      c10::optional<at::Tensor> md;
      if (mask) md = mask->scalar_type() == at::kBool ? *mask : mask->to(dtype);
      at::Tensor out;
      {
        const kernels::DropoutAsAten asAten;
        at::manual_seed(11);
        out = attention(qd, kd, vd, md, c10::nullopt, c.causal, p);
        EXPECT_TRUE(at::equal(at::randn({4}, at::kDouble), after)) << "the generator moved differently";
      }
      out.backward(g.to(dtype));
      expectAgree(dtype, tol, {out, qd.grad(), kd.grad(), vd.grad()},
                  {ref, q64.grad(), k64.grad(), v64.grad()});
    }
  }
}

// A learned additive mask (T5's position bias [1, H, sq, sk], a learned padding bias [B, 1, 1, sk]) gets the
// chain's gradient, summed over the dimensions it broadcasts over, with a causal mask and under dropout too.
TEST(Attention, ALearnedMaskGetsTheChainsGradient) {
  at::manual_seed(6);
  const int64_t B = 2, H = 3, S = 11, D = 8;
  for (const auto& maskShape : std::vector<std::vector<int64_t>>{{1, H, S, S}, {B, 1, 1, S}, {B, H, S, S}}) {
    for (bool causal : {false, true}) {
      for (double p : {0.0, 0.2}) {
        SCOPED_TRACE(c10::str(at::IntArrayRef(maskShape), causal ? " causal" : "", " dropout ", p));
        auto q = at::randn({B, H, S, D}, at::kDouble), k = at::randn({B, H, S, D}, at::kDouble);
        auto v = at::randn({B, H, S, D}, at::kDouble), g = at::randn({B, H, S, D}, at::kDouble);
        // fp32 values: the op reads masks as fp32.
        auto bias = at::randn(maskShape).to(at::kDouble);
        auto q64 = q.clone().requires_grad_(), k64 = k.clone().requires_grad_(),
             v64 = v.clone().requires_grad_();
        auto b64 = bias.clone().requires_grad_();
        at::manual_seed(12);
        auto ref = unfused(q64, k64, v64, b64, 0.25, causal, p);
        ref.backward(g);
        auto qd = leafAs(q, at::kDouble), kd = leafAs(k, at::kDouble), vd = leafAs(v, at::kDouble);
        auto bd = leafAs(bias, at::kDouble);
        at::Tensor out;
        {
          const kernels::DropoutAsAten asAten;
          at::manual_seed(12);
          out = attention(qd, kd, vd, bd, 0.25, causal, p);
        }
        out.backward(g);
        expectAgree(at::kDouble, 1e-10, {out, qd.grad(), kd.grad(), vd.grad()},
                    {ref, q64.grad(), k64.grad(), v64.grad()});
        ASSERT_TRUE(bd.grad().defined());
        EXPECT_EQ(bd.grad().sizes(), bias.sizes());
        EXPECT_TRUE(at::allclose(bd.grad(), b64.grad(), 1e-10, 1e-10))
            << (bd.grad() - b64.grad()).abs().max().item<double>();
      }
    }
  }
  // fp32: to fp32 rounding; a mask that needs no gradient gets none.
  auto q = at::randn({B, H, S, D}), bias = at::randn({1, H, S, S}).requires_grad_();
  auto frozen = at::randn({1, H, S, S});
  attention(q, q, q, bias).sum().backward();
  EXPECT_TRUE(bias.grad().defined());
  auto out = attention(q.clone().requires_grad_(), q, q, frozen);
  out.sum().backward();
  EXPECT_FALSE(frozen.grad().defined());
}

// The op's own mask, read through the op: with q = 0 every probability is 1/sk and with v = I the output is
// the probabilities as dropped, keep/((1 - p)·sk). Nothing else draws from the generator.
at::Tensor maskOf(const std::vector<int64_t>& batch, int64_t sq, int64_t sk, double p, bool causal = false) {
  auto q = at::zeros(shape(batch, sq, 4), at::kDouble), k = at::zeros(shape(batch, sk, 4), at::kDouble);
  auto v = at::eye(sk, at::kDouble).expand(shape(batch, sk, sk)).contiguous();
  auto out = attention(q, k, v, c10::nullopt, c10::nullopt, causal, p);
  if (causal) {  // row i's probabilities are 1/(i + 1)
    out = out * at::arange(1, sq + 1, at::kDouble).unsqueeze(1);
    return (out * (1 - p)).round();
  }
  return (out * ((1 - p) * static_cast<double>(sk))).round();
}

TEST(Attention, DropoutDrawsAtenDropoutsDistributionFromOneSeedACall) {
  const double p = 0.3;
  at::manual_seed(3);
  const auto m = maskOf({4, 2}, 64, 96, p);
  // Every output is a kept or a dropped probability, nothing in between.
  EXPECT_TRUE(at::logical_or(m == 0, m == 1).all().item<bool>());
  // The keep rate is 1 - p within 5 standard deviations of a Bernoulli mean over 49,152 draws.
  const double n = static_cast<double>(m.numel()), rate = m.mean().item<double>();
  EXPECT_NEAR(rate, 1 - p, 5 * std::sqrt(p * (1 - p) / n)) << rate;
  // Rows and keys are not copies of one another: neighbouring rows, and the same row of another slice,
  // agree where two independent draws would (p² + (1-p)², 0.58), not everywhere.
  const auto agree = [](const at::Tensor& a, const at::Tensor& b) {
    return (a == b).to(at::kDouble).mean().item<double>();
  };
  const double expected = p * p + (1 - p) * (1 - p);
  EXPECT_NEAR(agree(m.narrow(-2, 0, 63), m.narrow(-2, 1, 63)), expected, 0.03);
  EXPECT_NEAR(agree(m[0][0], m[1][1]), expected, 0.03);
  EXPECT_NEAR(agree(m.narrow(-1, 0, 95), m.narrow(-1, 1, 95)), expected, 0.03);
  // The same torch seed draws the same mask; the next call another.
  at::manual_seed(3);
  EXPECT_TRUE(at::equal(maskOf({4, 2}, 64, 96, p), m));
  EXPECT_FALSE(at::equal(maskOf({4, 2}, 64, 96, p), m));
  // p = 1 drops everything, as aten::dropout; p = 0 draws nothing from the generator, p > 0 one seed.
  EXPECT_EQ(maskOf({2}, 8, 8, 1.0).abs().sum().item<double>(), 0.0);
  const auto x = at::randn({2, 5, 4});
  const auto nextDraw = [&x](double dropout) {
    at::manual_seed(9);
    if (dropout >= 0) attention(x, x, x, c10::nullopt, c10::nullopt, false, dropout);
    return at::randn({3});
  };
  EXPECT_TRUE(at::equal(nextDraw(0.0), nextDraw(-1)));
  EXPECT_FALSE(at::equal(nextDraw(0.5), nextDraw(-1)));
}

// Backward redraws the forward's mask from the seed: the gradients are the float64 chain's under the mask the
// forward applied (read back with the same torch seed), across several row blocks and with a causal mask.
TEST(Attention, DropoutBackwardRedrawsTheForwardsMask) {
  const double p = 0.2;
  for (const auto& c : kCases) {
    if (c.maskKind != 0) continue;
    SCOPED_TRACE(c.name);
    at::manual_seed(21);
    auto q = at::randn(shape(c.batch, c.sq, c.d), at::kDouble).requires_grad_();
    auto k = at::randn(shape(c.batch, c.sk, c.d), at::kDouble).requires_grad_();
    auto v = at::randn(shape(c.batch, c.sk, c.dv), at::kDouble).requires_grad_();
    auto g = at::randn(shape(c.batch, c.sq, c.dv), at::kDouble);
    at::manual_seed(77);
    auto out = attention(q, k, v, c10::nullopt, c10::nullopt, c.causal, p);
    out.backward(g);
    at::manual_seed(77);
    const auto keep = maskOf(c.batch, c.sq, c.sk, p, c.causal);
    auto q64 = q.detach().clone().requires_grad_(), k64 = k.detach().clone().requires_grad_(),
         v64 = v.detach().clone().requires_grad_();
    auto s = at::matmul(q64, k64.transpose(-2, -1)) / std::sqrt(static_cast<double>(c.d));
    if (c.causal) s = s.masked_fill(at::ones({c.sq, c.sk}, at::kBool).tril().logical_not(), -INFINITY);
    auto ref = at::matmul(at::softmax(s, -1) * keep / (1 - p), v64);
    ref.backward(g);
    for (const auto& [what, got, want] :
         std::vector<std::tuple<const char*, at::Tensor, at::Tensor>>{{"out", out, ref},
                                                                      {"dq", q.grad(), q64.grad()},
                                                                      {"dk", k.grad(), k64.grad()},
                                                                      {"dv", v.grad(), v64.grad()}}) {
      EXPECT_TRUE(at::allclose(got, want, 1e-10, 1e-10))
          << what << " " << (got - want).abs().max().item<double>();
    }
  }
}

TEST(Attention, BadInputsAreRefusedWithTheReason) {
  const auto refusal = [](const std::function<void()>& f) {
    try {
      f();
    } catch (const c10::Error& e) {
      return std::string(e.what_without_backtrace());
    }
    return std::string("accepted");
  };
  auto q = at::randn({2, 4, 8});
  EXPECT_NE(refusal([&] {
              attention(q, at::randn({2, 4, 7}), at::randn({2, 4, 8}));
            }).find("same last dimension"),
            std::string::npos);
  EXPECT_NE(refusal([&] {
              attention(q, at::randn({2, 5, 8}), at::randn({2, 4, 8}));
            }).find("same sequence length"),
            std::string::npos);
  EXPECT_NE(refusal([&] {
              attention(q, at::randn({3, 4, 8}), at::randn({3, 4, 8}));
            }).find("same leading"),
            std::string::npos);
  EXPECT_NE(refusal([&] {
              attention(q, q, q, at::zeros({3, 4}));
            }).find("does not broadcast"),
            std::string::npos);
  EXPECT_NE(refusal([&] { attention(q, q.to(at::kDouble), q); }).find("share a dtype"), std::string::npos);
  EXPECT_NE(refusal([&] {
              attention(q, q, q, c10::nullopt, c10::nullopt, false, 1.5);
            }).find("dropout_p must be in [0, 1]"),
            std::string::npos);
  // The raw kernels check what the autograd wrapper would never pass: a kept mask of another shape, a mask
  // gradient without a floating mask.
  const auto forward = op<std::tuple<at::Tensor, at::Tensor>(
      const at::Tensor&, const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&, double, bool,
      double, int64_t, const c10::optional<at::Tensor>&)>("lowmem::attention_forward");
  EXPECT_NE(refusal([&] {
              forward.call(q, q, q, c10::nullopt, 1.0, false, 0.5, 0, at::ones({3}, at::kByte));
            }).find("dropout_keep must be a contiguous uint8 tensor"),
            std::string::npos);
  const auto [o, lse] = forward.call(q, q, q, c10::nullopt, 1.0, false, 0.0, 0, c10::nullopt);
  EXPECT_NE(refusal([&] {
              op<std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>(
                  const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
                  const at::Tensor&, const at::Tensor&, const c10::optional<at::Tensor>&, double, bool,
                  double, int64_t, const c10::optional<at::Tensor>&, bool)>("lowmem::attention_backward")
                  .call(o, q, q, q, o, lse, c10::nullopt, 1.0, false, 0.0, 0, c10::nullopt, true);
            }).find("mask_grad needs a floating attn_mask"),
            std::string::npos);
}

}  // namespace
}  // namespace lowmem::testing
