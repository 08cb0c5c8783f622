// ReGELU-k / ReSiLU-k against independent references: ATen's gelu/silu for the forward, a float64 evaluation
// of the published step function for the backward, codes bit by bit against paper.md's layout.

#include <gtest/gtest.h>
#include <torch/script.h>

#include <cmath>

#include "kernels/activation_table.h"
#include "tests/kernels/op_handles.h"
#include "tests/support/memory_counter.h"

namespace lowmem::testing {
namespace {

using kernels::ActivationFn;

// paper.md §1, typed in again here so the test does not trust the library's table.
constexpr double kGeluA[] = {-0.04922261145617846, 1.0979632065417297, -0.048740595085551286};
constexpr double kGeluC[] = {-3.1858810036855245, -0.001178821281161997, 3.190832613414926};
constexpr double kSiluA[] = {-0.04060357190528599, 1.080925428529668, -0.040321856624382146};
constexpr double kSiluC[] = {-6.3050461001646445, -0.0008684942046214787, 6.325815242089708};

// Inputs that hit every code, the thresholds exactly (as fp32), their fp32 neighbours, and a random bulk.
at::Tensor probeInputs(const double* c, int64_t randomCount) {
  std::vector<float> v;
  for (int i = 0; i < 3; ++i) {
    const float t = static_cast<float>(c[i]);
    v.push_back(t);
    v.push_back(std::nextafter(t, 1e9f));
    v.push_back(std::nextafter(t, -1e9f));
  }
  for (float s : {0.f, -0.f, 1e-30f, -1e-30f, 10.f, -10.f, 100.f, -100.f})
    v.push_back(s);
  auto fixed = at::tensor(v);
  return at::cat({fixed, at::randn({randomCount}) * 4});
}

int referenceCode(float x, const double* c) {
  int code = 0;
  for (int i = 0; i < 3; ++i)
    code += x > static_cast<float>(c[i]);  // strict, in fp32
  return code;
}

double referenceLevel(int code, const double* a) {
  double level = 0;
  for (int i = 0; i < code; ++i)
    level += a[i];
  return level;
}

struct Case {
  ActivationFn fn;
  const char* name;
  const double* a;
  const double* c;
};

// Without it gtest prints the struct's bytes (pointers) into the test names CTest lists.
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.name;
}

class ActivationTest : public ::testing::TestWithParam<Case> {};

TEST_P(ActivationTest, CodesMatchTheBitLayoutBitByBit) {
  const auto p = GetParam();
  // Every tail length 1..17 and a large tensor whose length is not a multiple of 4 or 8.
  for (int64_t n : {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 100003}) {
    auto x = probeInputs(p.c, std::max<int64_t>(0, n - 26)).slice(0, 0, n).contiguous();
    auto [y, packed] = activationForward(x, p.name, 2);
    ASSERT_EQ(packed.numel(), (x.numel() + 3) / 4) << n;
    ASSERT_EQ(packed.scalar_type(), at::kByte);
    const auto* bytes = packed.data_ptr<uint8_t>();
    const auto* xs = x.data_ptr<float>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const int stored = (bytes[i >> 2] >> (2 * (i & 3))) & 3;
      ASSERT_EQ(stored, referenceCode(xs[i], p.c)) << "element " << i << " x=" << xs[i] << " n=" << n;
    }
    // The unused pairs of the last byte are written as zero (never read, but deterministic).
    if (x.numel() % 4) {
      EXPECT_EQ(bytes[packed.numel() - 1] >> (2 * (x.numel() % 4)), 0) << n;
    }
    // The helper ops agree with the kernels' buffer.
    EXPECT_TRUE(at::equal(unpack2(packed, x.numel()), activationCodes(x, p.name, 2))) << n;
    EXPECT_TRUE(at::equal(pack2(activationCodes(x, p.name, 2)), packed)) << n;
  }
}

TEST_P(ActivationTest, ForwardIsAtensFunction) {
  const auto p = GetParam();
  auto x = probeInputs(p.c, 1 << 20);
  auto y = p.fn == ActivationFn::kGelu ? regelu2(x) : resilu2(x);
  auto ref = p.fn == ActivationFn::kGelu ? at::gelu(x) : at::silu(x);
  // Bit for bit on every CPU: the fp32 forward is ATen's own kernel (oneDNN GELU; SiLU built per ISA).
  EXPECT_TRUE(at::equal(y, ref)) << "max diff " << (y - ref).abs().max().item<float>();
}

TEST_P(ActivationTest, BackwardIsThePublishedStepFunctionInFloat64) {
  const auto p = GetParam();
  auto x = probeInputs(p.c, 50000).requires_grad_();
  auto y = p.fn == ActivationFn::kGelu ? regelu2(x) : resilu2(x);
  auto g = at::randn_like(y);
  y.backward(g);
  const auto* xs = x.data_ptr<float>();
  const auto* gs = g.data_ptr<float>();
  const auto* got = x.grad().data_ptr<float>();
  double worst = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const double ref = static_cast<double>(gs[i]) * referenceLevel(referenceCode(xs[i], p.c), p.a);
    worst = std::max(worst, std::abs(got[i] - ref) / std::max(std::abs(ref), 1e-30));
  }
  // fp32 level times fp32 gradient: two roundings.
  EXPECT_LE(worst, 2.5e-7);
}

TEST_P(ActivationTest, KeepsExactlyTheCodesForBackward) {
  const auto p = GetParam();
  for (int64_t n : {1, 7, 4096, 1000001}) {
    auto x = at::randn({n}).requires_grad_();
    CountingScope scope;
    auto y = p.fn == ActivationFn::kGelu ? regelu2(x) : resilu2(x);
    // Alive after forward: the output and the saved codes, nothing else (the input is the caller's).
    const int64_t yBytes = static_cast<int64_t>(y.storage().nbytes());
    EXPECT_EQ(scope.counter().liveBytes() - yBytes, (n + 3) / 4) << n;
  }
}

TEST_P(ActivationTest, MoreBitsFollowTheirTables) {
  const auto p = GetParam();
  for (int bits : {3, 4}) {
    const auto& t = kernels::activationTable(p.fn, bits);
    EXPECT_EQ(t.thresholds, (1 << bits) - 1);
    double sum = 0, moment = 0;
    for (int i = 0; i < t.thresholds; ++i) {
      sum += t.a[i];
      moment += t.a[i] * t.cExact[i];
      if (i) {
        EXPECT_LT(t.cExact[i - 1], t.cExact[i]);
      }
    }
    EXPECT_NEAR(sum, 1.0, 1e-9);  // the asymptote constraints of the fit
    EXPECT_NEAR(moment, 0.0, 1e-9);
    auto x = at::randn({10007}) * 3;
    auto [y, packed] = activationForward(x, p.name, bits);
    EXPECT_EQ(packed.numel(), (x.numel() * bits + 7) / 8);
    auto codes = unpack(packed, x.numel(), bits);
    auto xr = x.requires_grad_();
    auto out = p.fn == ActivationFn::kGelu ? regelu(xr, bits) : resilu(xr, bits);
    auto g = at::randn_like(out);
    out.backward(g);
    const auto* cs = codes.data_ptr<uint8_t>();
    const auto* xs = x.data_ptr<float>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      int code = 0;
      for (int k = 0; k < t.thresholds; ++k)
        code += xs[i] > static_cast<float>(t.cExact[k]);
      ASSERT_EQ(cs[i], code) << i;
      double level = 0;
      for (int k = 0; k < code; ++k)
        level += t.a[k];
      const double ref = g.data_ptr<float>()[i] * level;
      ASSERT_NEAR(x.grad().data_ptr<float>()[i], ref, 2.5e-7 * std::abs(ref) + 1e-30) << i;
    }
  }
}

TEST_P(ActivationTest, NarrowDtypesMatchAtenOrRoundTheFp32ResultOnce) {
  const auto p = GetParam();
  auto x32 = at::randn({4099}) * 3;
  auto refFn = [&](const at::Tensor& t) { return p.fn == ActivationFn::kGelu ? at::gelu(t) : at::silu(t); };
  auto opFn = [&](const at::Tensor& t) { return p.fn == ActivationFn::kGelu ? regelu2(t) : resilu2(t); };
  for (auto dtype : {at::kBFloat16, at::kHalf}) {
    auto x = x32.to(dtype);
    auto y = opFn(x);
    ASSERT_EQ(y.scalar_type(), dtype);
    if (dtype == at::kBFloat16) {
      // bf16 forward is ATen's own bf16 kernel (whose rounding depends on the CPU's ISA build):
      // bit-identical.
      EXPECT_TRUE(at::equal(y, refFn(x))) << dtype;
      EXPECT_TRUE(at::equal(activationCodes(x, p.name, 2), activationCodes(x.to(at::kFloat), p.name, 2)));
      continue;
    }
    auto ref = refFn(x.to(at::kFloat)).to(dtype);
    // One rounding of the fp32 result: at most one unit in the last place of the narrow type, on top of the
    // fp32 difference bounded in ForwardIsAtensFunction.
    const double unit = dtype == at::kBFloat16 ? std::ldexp(1.0, -7) : std::ldexp(1.0, -10);
    const auto diff = at::abs(y.to(at::kDouble) - ref.to(at::kDouble));
    const auto bound =
        at::abs(ref.to(at::kDouble)) * unit + at::abs(x.to(at::kDouble)) * std::ldexp(1.0, -21) + 1e-30;
    EXPECT_TRUE(at::all(diff <= bound).item<bool>())
        << dtype << " worst diff/bound " << (diff / bound).max().item<double>()
        << " at x=" << x.to(at::kDouble).flatten()[(diff / bound).argmax()].item<double>();
    auto codes = activationCodes(x, p.name, 2);
    auto refCodes = activationCodes(x.to(at::kFloat), p.name, 2);
    EXPECT_TRUE(at::equal(codes, refCodes)) << dtype;
  }
  // fp64 computes in fp64 (std::erf/std::exp); ATen's vector erf differs by a few ulp of |x|.
  auto x64 = x32.to(at::kDouble);
  auto y64 = opFn(x64);
  ASSERT_EQ(y64.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::all(at::abs(y64 - refFn(x64)) <= at::abs(x64) * 1e-15 + 1e-300).item<bool>());
}

TEST_P(ActivationTest, NonContiguousAndEmptyInputs) {
  const auto p = GetParam();
  auto opFn = [&](const at::Tensor& t) { return p.fn == ActivationFn::kGelu ? regelu2(t) : resilu2(t); };
  auto base = at::randn({37, 23});
  auto t = base.t();
  ASSERT_FALSE(t.is_contiguous());
  EXPECT_TRUE(at::equal(opFn(t), opFn(t.contiguous())));
  auto tg = t.detach().requires_grad_();
  opFn(tg).sum().backward();
  auto cg = t.contiguous().requires_grad_();
  opFn(cg).sum().backward();
  EXPECT_TRUE(at::equal(tg.grad(), cg.grad()));
  auto empty = at::empty({0, 5}).requires_grad_();
  auto ye = opFn(empty);
  EXPECT_EQ(ye.sizes(), empty.sizes());
  ye.sum().backward();
  EXPECT_EQ(empty.grad().numel(), 0);
}

TEST_P(ActivationTest, ClearErrors) {
  const auto p = GetParam();
  auto opFn = [&](const at::Tensor& t) { return p.fn == ActivationFn::kGelu ? regelu2(t) : resilu2(t); };
  try {
    opFn(at::ones({3}, at::kLong));
    FAIL() << "integer input accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("expected a floating-point tensor"),
              std::string::npos);
  }
  EXPECT_THROW(regelu(at::ones({3}), 5), c10::Error);
}

INSTANTIATE_TEST_SUITE_P(Published, ActivationTest,
                         ::testing::Values(Case{ActivationFn::kGelu, "gelu", kGeluA, kGeluC},
                                           Case{ActivationFn::kSilu, "silu", kSiluA, kSiluC}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ActivationTable, K2IsThePublishedSet) {
  for (auto [fn, a, c] :
       {std::tuple{ActivationFn::kGelu, kGeluA, kGeluC}, std::tuple{ActivationFn::kSilu, kSiluA, kSiluC}}) {
    const auto& t = kernels::activationTable(fn, 2);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(t.a[i], a[i]);
      EXPECT_EQ(t.cExact[i], c[i]);
      EXPECT_EQ(t.c[i], static_cast<float>(c[i]));
    }
    EXPECT_EQ(t.level[0], 0.f);
    EXPECT_EQ(t.level[1], static_cast<float>(a[0]));
    EXPECT_EQ(t.level[2], static_cast<float>(a[0] + a[1]));
    EXPECT_FLOAT_EQ(t.level[3], 1.f);
  }
}

TEST(PackOps, RoundTripEveryWidth) {
  for (int bits : {1, 2, 3, 4, 8}) {
    for (int64_t n : {0, 1, 5, 8, 9, 1001}) {
      auto codes = at::randint(0, 1 << bits, {n}, at::kByte);
      auto packed = pack(codes, bits);
      EXPECT_EQ(packed.numel(), (n * bits + 7) / 8);
      EXPECT_TRUE(at::equal(unpack(packed, n, bits), codes)) << bits << " " << n;
    }
  }
  auto packed = pack2(at::tensor({1, 2, 3, 0, 3}, at::kByte));
  ASSERT_EQ(packed.numel(), 2);
  EXPECT_EQ(packed.data_ptr<uint8_t>()[0], 1 | (2 << 2) | (3 << 4) | (0 << 6));
  EXPECT_EQ(packed.data_ptr<uint8_t>()[1], 3);
  EXPECT_THROW(pack2(at::tensor({4}, at::kByte)), c10::Error);
  EXPECT_THROW(unpack2(at::zeros({1}, at::kByte), 5), c10::Error);
}

}  // namespace
}  // namespace lowmem::testing
