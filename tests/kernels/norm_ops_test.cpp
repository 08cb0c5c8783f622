// MS-LN and MS-RMSNorm against ATen's layer_norm (no affine), the HF RMSNorm op chain, and float64 autograd
// of the same functions; the saved output is the returned tensor itself, and the saved bytes are measured.

#include <gtest/gtest.h>
#include <torch/script.h>

#include "kernels/autocast_compat.h"
#include "tests/kernels/op_handles.h"
#include "tests/support/memory_counter.h"

namespace lowmem::testing {
namespace {

at::Tensor rmsChain(const at::Tensor& x, double eps) {
  // The HF op chain without weight, as real models write it.
  return x * at::rsqrt(x.pow(2).mean(-1, /*keepdim=*/true) + eps);
}

struct Shape {
  std::vector<int64_t> input;
  std::vector<int64_t> normalized;
};

const std::vector<Shape> kShapes = {
    {{4, 197, 768}, {768}}, {{3, 5, 13}, {13}}, {{1, 7}, {7}}, {{6, 4, 10}, {4, 10}}, {{2, 3, 4099}, {4099}}};

TEST(MsLayerNorm, ForwardIsAtenLayerNormWithoutAffine) {
  for (const auto& s : kShapes) {
    auto x = at::randn(s.input) * 3 + 1;
    auto y = msLayerNorm(x, s.normalized, 1e-5);
    auto ref = at::layer_norm(x, s.normalized, {}, {}, 1e-5);
    EXPECT_TRUE(at::allclose(y, ref, 1e-5, 1e-5)) << "max diff " << (y - ref).abs().max().item<float>();
  }
}

TEST(MsRmsNorm, ForwardIsTheRmsNormChainWithoutWeight) {
  for (const auto& s : kShapes) {
    if (s.normalized.size() != 1) continue;  // the chain normalises the last dimension
    auto x = at::randn(s.input) * 3 + 1;
    auto y = msRmsNorm(x, s.normalized, 1e-6);
    EXPECT_TRUE(at::allclose(y, rmsChain(x, 1e-6), 1e-5, 1e-6));
  }
}

// Backward against float64 autograd of ATen's own functions: the fp64 path must agree to ~1e-12, the fp32
// path to fp32 rounding.
TEST(MsNorms, BackwardMatchesFloat64Autograd) {
  for (const auto& s : kShapes) {
    auto x64 = (at::randn(s.input, at::kDouble) * 2 + 0.5);
    auto g64 = at::randn(s.input, at::kDouble);
    for (bool rms : {false, true}) {
      if (rms && s.normalized.size() != 1) continue;
      auto ref = x64.detach().clone().requires_grad_();
      auto refOut = rms ? rmsChain(ref, 1e-6) : at::layer_norm(ref, s.normalized, {}, {}, 1e-5);
      refOut.backward(g64);

      auto xd = x64.detach().clone().requires_grad_();
      (rms ? msRmsNorm(xd, s.normalized, 1e-6) : msLayerNorm(xd, s.normalized, 1e-5)).backward(g64);
      EXPECT_TRUE(at::allclose(xd.grad(), ref.grad(), 1e-10, 1e-12)) << (rms ? "rms " : "ln ") << s.input;

      auto xf = x64.to(at::kFloat).requires_grad_();
      (rms ? msRmsNorm(xf, s.normalized, 1e-6) : msLayerNorm(xf, s.normalized, 1e-5))
          .backward(g64.to(at::kFloat));
      EXPECT_TRUE(at::allclose(xf.grad().to(at::kDouble), ref.grad(), 1e-3, 1e-4))
          << (rms ? "rms " : "ln ") << s.input << " max diff "
          << (xf.grad().to(at::kDouble) - ref.grad()).abs().max().item<double>();
    }
  }
}

TEST(MsNorms, SavesTheReturnedOutputItselfAndOneRstdPerRow) {
  for (bool rms : {false, true}) {
    const int64_t rows = 8 * 197, cols = 768;
    auto x = at::randn({8, 197, cols}).requires_grad_();
    at::Tensor y;
    int64_t extra = 0;
    {
      CountingScope scope;
      y = rms ? msRmsNorm(x, {cols}, 1e-6) : msLayerNorm(x, {cols}, 1e-5);
      extra = scope.counter().liveBytes() - static_cast<int64_t>(y.storage().nbytes());
    }
    // Nothing but the fp32 rstd beside the output: the saved output is no copy.
    EXPECT_EQ(extra, 4 * rows) << (rms ? "rms" : "ln");
    // Saved and returned are one tensor: changing the output in place trips autograd's version check.
    y.add_(1.0);
    EXPECT_THROW(y.sum().backward(), c10::Error);
  }
}

TEST(MsNorms, NarrowDtypesComputeStatisticsInFp32) {
  // Row lengths with and without a tail of fewer than 8 elements.
  for (int64_t cols : {1024, 17, 5, 1029}) {
    for (auto dtype : {at::kBFloat16, at::kHalf}) {
      auto x = (at::randn({16, cols}) * 2 + 3).to(dtype);
      const float unit = dtype == at::kBFloat16 ? std::ldexp(1.f, -8) : std::ldexp(1.f, -11);
      auto y = msLayerNorm(x, {cols}, 1e-5);
      ASSERT_EQ(y.scalar_type(), dtype);
      auto ref = at::layer_norm(x.to(at::kFloat), {cols}, {}, {}, 1e-5);
      EXPECT_LE((y.to(at::kFloat) - ref).abs().max().item<float>(), 4 * unit * ref.abs().max().item<float>())
          << dtype << " " << cols;
      auto yr = msRmsNorm(x, {cols}, 1e-6);
      auto refr = rmsChain(x.to(at::kFloat), 1e-6);
      EXPECT_LE((yr.to(at::kFloat) - refr).abs().max().item<float>(),
                4 * unit * refr.abs().max().item<float>())
          << dtype << " " << cols;
      // Backward in the narrow dtype against fp32 autograd of the reference.
      auto xf = x.to(at::kFloat).requires_grad_();
      auto g = at::randn({16, cols});
      at::layer_norm(xf, {cols}, {}, {}, 1e-5).backward(g);
      auto xn = x.detach().clone().requires_grad_();
      msLayerNorm(xn, {cols}, 1e-5).backward(g.to(dtype));
      EXPECT_LE((xn.grad().to(at::kFloat) - xf.grad()).abs().max().item<float>(),
                16 * unit * xf.grad().abs().max().item<float>())
          << dtype << " " << cols;
    }
  }
}

TEST(MsNorms, RejectsMismatchedShapesAndIntegers) {
  auto x = at::randn({2, 3, 8});
  try {
    msLayerNorm(x, {4}, 1e-5);
    FAIL() << "mismatched normalized_shape accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("does not match the input's trailing"),
              std::string::npos);
  }
  EXPECT_THROW(msRmsNorm(at::ones({2, 4}, at::kLong), {4}, 1e-6), c10::Error);
  EXPECT_THROW(msLayerNorm(x, {2, 3, 8, 1}, 1e-5), c10::Error);
  auto empty = at::empty({0, 8}).requires_grad_();
  auto y = msLayerNorm(empty, {8}, 1e-5);
  EXPECT_EQ(y.numel(), 0);
  y.sum().backward();
  EXPECT_EQ(empty.grad().numel(), 0);
}

// Under autocast an MS-norm writes the autocast dtype (kernels/autocast_ops.cpp), so a 16-bit consumer's own
// cast returns the norm's output itself and the tensor the norm saves is the one the consumer saves. Float64
// inputs are left alone, as autocast leaves them; the gradient reaching a float32 input is float32.
TEST(MsNormsUnderAutocast, WriteTheAutocastDtypeFromFloat32Inputs) {
  struct CpuAutocast {
    CpuAutocast() {
      autocast::setEnabled(c10::DeviceType::CPU, true);
      autocast::setDtype(c10::DeviceType::CPU, at::kBFloat16);
    }
    ~CpuAutocast() { autocast::setEnabled(c10::DeviceType::CPU, false); }
  };
  auto x = (at::randn({4, 9, 64}) * 3 + 1).requires_grad_();
  at::Tensor ln, rms, wide;
  {
    CpuAutocast on;
    ln = msLayerNorm(x, {64}, 1e-5);
    rms = msRmsNorm(x, {64}, 1e-6);
    wide = msLayerNorm(x.detach().to(at::kDouble), {64}, 1e-5);
    // The consumer's cast is the identity on the norm's output: one tensor, shared.
    EXPECT_TRUE(ln.to(at::kBFloat16).is_same(ln));
  }
  EXPECT_EQ(ln.scalar_type(), at::kBFloat16);
  EXPECT_EQ(rms.scalar_type(), at::kBFloat16);
  EXPECT_EQ(wide.scalar_type(), at::kDouble);
  const auto ref = at::layer_norm(x.detach().to(at::kDouble), {64}, {}, {}, 1e-5);
  // bf16 keeps 8 significant bits: the input's rounding and the output's, each 2^-9 relative.
  EXPECT_LT((ln.detach().to(at::kDouble) - ref).abs().max().item<double>(), 0.05);
  EXPECT_LT((wide - ref).abs().max().item<double>(), 1e-9);
  ln.to(at::kFloat).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().scalar_type(), at::kFloat);
}

}  // namespace
}  // namespace lowmem::testing
