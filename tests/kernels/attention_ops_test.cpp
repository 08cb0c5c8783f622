// lowmem::attention against float64 autograd of the unfused chain softmax(q kᵀ · scale + mask) v: outputs and
// all three input gradients, at odd sizes, with padding, boolean and causal masks, fully masked rows and
// bf16; and what it keeps for backward, measured.

#include <gtest/gtest.h>
#include <torch/script.h>

#include <functional>
#include <limits>

#include "tests/kernels/op_handles.h"
#include "tests/support/memory_counter.h"

namespace lowmem::testing {
namespace {

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const c10::optional<at::Tensor>& mask = c10::nullopt,
                     c10::optional<double> scale = c10::nullopt, bool causal = false) {
  return op<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                       const c10::optional<at::Tensor>&, c10::optional<double>, bool)>("lowmem::attention")
      .call(q, k, v, mask, scale, causal);
}

// The chain as models write it, in whatever dtype it is given.
at::Tensor unfused(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                   const c10::optional<at::Tensor>& mask, double scale, bool causal) {
  auto s = at::matmul(q, k.transpose(-2, -1)) * scale;
  if (mask) s = mask->scalar_type() == at::kBool ? s.masked_fill(mask->logical_not(), -INFINITY) : s + *mask;
  if (causal) {
    const auto keep = at::ones({q.size(-2), k.size(-2)}, at::kBool).tril();
    s = s.masked_fill(keep.logical_not(), -INFINITY);
  }
  return at::matmul(at::softmax(s, -1), v);
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

TEST(Attention, MatchesFloat64AutogradOfTheUnfusedChain) {
  at::manual_seed(0);
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.name);
    auto q = at::randn(shape(c.batch, c.sq, c.d), at::kDouble);
    auto k = at::randn(shape(c.batch, c.sk, c.d), at::kDouble);
    auto v = at::randn(shape(c.batch, c.sk, c.dv), at::kDouble);
    auto g = at::randn(shape(c.batch, c.sq, c.dv), at::kDouble);
    auto mask = maskFor(c, at::kDouble);
    if (c.maskKind == 2) mask->index_put_({at::indexing::Slice(), 0}, true);  // every row keeps a key
    const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
    // Reference: float64 autograd of the chain.
    auto q64 = q.clone().requires_grad_(), k64 = k.clone().requires_grad_(), v64 = v.clone().requires_grad_();
    auto ref = unfused(q64, k64, v64, mask, scale, c.causal);
    ref.backward(g);
    ASSERT_TRUE(q64.grad().defined()) << "reference";
    // fp64 op: agreement to rounding; fp32 op: to fp32 rounding.
    for (auto dtype : {at::kDouble, at::kFloat}) {
      const double tol = dtype == at::kDouble ? 1e-10 : 2e-5;
      // Copies: q.to(kDouble) would be q itself, and the next dtype's copy a non-leaf.
      const auto leaf = [dtype](const at::Tensor& t) {
        return t.detach().to(dtype).clone().requires_grad_();
      };
      auto qd = leaf(q), kd = leaf(k), vd = leaf(v);
      c10::optional<at::Tensor> md;
      if (mask) md = mask->scalar_type() == at::kBool ? *mask : mask->to(dtype);
      auto out = attention(qd, kd, vd, md, c10::nullopt, c.causal);
      out.backward(g.to(dtype));
      EXPECT_TRUE(at::allclose(out.to(at::kDouble), ref, tol, tol))
          << dtype << " out " << (out.to(at::kDouble) - ref).abs().max().item<double>();
      EXPECT_TRUE(at::allclose(qd.grad().to(at::kDouble), q64.grad(), tol, tol))
          << dtype << " dq " << (qd.grad().to(at::kDouble) - q64.grad()).abs().max().item<double>();
      EXPECT_TRUE(at::allclose(kd.grad().to(at::kDouble), k64.grad(), tol, tol))
          << dtype << " dk " << (kd.grad().to(at::kDouble) - k64.grad()).abs().max().item<double>();
      EXPECT_TRUE(at::allclose(vd.grad().to(at::kDouble), v64.grad(), tol, tol))
          << dtype << " dv " << (vd.grad().to(at::kDouble) - v64.grad()).abs().max().item<double>();
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
  int64_t kept = 0;
  {
    CountingScope scope;
    auto out = attention(q, k, v);
    kept = scope.counter().liveBytes();
    EXPECT_EQ(kept, b * h * s * d * 4 + b * h * s * 4);  // the output and the log-sum-exp
    out.sum().backward();
  }
  EXPECT_TRUE(q.grad().defined() && k.grad().defined() && v.grad().defined());
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
}

}  // namespace
}  // namespace lowmem::testing
