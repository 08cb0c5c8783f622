// MS-LN and MS-RMSNorm: the raw CPU kernels and the autograd ops. Saved for backward: the returned output
// itself (same storage, no copy) and rstd per row (fp32; fp64 for fp64 input). The input is not kept.

#include <torch/autograd.h>
#include <torch/library.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/ops_common.h"

namespace lowmem::kernels {
namespace {

using ForwardSig = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, at::IntArrayRef, double, bool);
using BackwardSig = at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, at::IntArrayRef,
                               bool);

at::ScalarType statsType(const at::Tensor& x) {
  return x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

std::tuple<at::Tensor, at::Tensor> forwardCpu(const at::Tensor& x, at::IntArrayRef shape, double eps,
                                              bool rms) {
  constexpr const char* kOp = "lowmem::norm_forward";
  checkFloating(x, kOp);
  const int64_t cols = normalizedCols(x, shape, kOp);
  TORCH_CHECK(eps >= 0, kOp, ": eps must be non-negative, got ", eps);
  const auto xc = x.contiguous();
  auto y = at::empty_like(xc, at::MemoryFormat::Contiguous);
  const int64_t rows = cols == 0 ? 0 : xc.numel() / cols;
  auto rstd = at::empty({rows}, xc.options().dtype(statsType(xc)));
  if (xc.numel() > 0) cpu::cpuKernels().normForward(xc, cols, eps, rms, y, rstd);
  return {y, rstd};
}

at::Tensor backwardCpu(const at::Tensor& grad, const at::Tensor& y, const at::Tensor& rstd,
                       at::IntArrayRef shape, bool rms) {
  constexpr const char* kOp = "lowmem::norm_backward";
  checkFloating(grad, kOp);
  TORCH_CHECK(grad.sizes().equals(y.sizes()) && grad.scalar_type() == y.scalar_type(), kOp, ": grad ",
              grad.sizes(), " ", grad.scalar_type(), " does not match the saved output ", y.sizes(), " ",
              y.scalar_type());
  const int64_t cols = normalizedCols(y, shape, kOp);
  TORCH_CHECK(rstd.scalar_type() == statsType(y) && rstd.numel() == (cols == 0 ? 0 : y.numel() / cols), kOp,
              ": rstd must hold one ", statsType(y), " per row");
  const auto g = grad.contiguous();
  auto dx = at::empty_like(g, at::MemoryFormat::Contiguous);
  if (g.numel() > 0) cpu::cpuKernels().normBackward(g, y.contiguous(), rstd.contiguous(), cols, rms, dx);
  return dx;
}

class NormFunction : public torch::autograd::Function<NormFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, at::IntArrayRef shape,
                            double eps, bool rms) {
    static const auto op = lowmemOp<ForwardSig>("lowmem::norm_forward");
    auto [y, rstd] = op.call(x, shape, eps, rms);
    ctx->saved_data["shape"] = shape.vec();
    ctx->saved_data["rms"] = rms;
    // y is the very tensor returned: autograd keeps it as a saved output, so its storage is shared.
    ctx->save_for_backward({y, rstd});
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    static const auto op = lowmemOp<BackwardSig>("lowmem::norm_backward");
    const auto saved = ctx->get_saved_variables();
    const auto shape = ctx->saved_data["shape"].toIntVector();
    auto dx = op.call(grads[0], saved[0], saved[1], shape, ctx->saved_data["rms"].toBool());
    return {dx, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor msLayerNorm(const at::Tensor& x, at::IntArrayRef shape, double eps) {
  checkFloating(x, "lowmem::ms_layer_norm");
  normalizedCols(x, shape, "lowmem::ms_layer_norm");
  return NormFunction::apply(x, shape, eps, false);
}

at::Tensor msRmsNorm(const at::Tensor& x, at::IntArrayRef shape, double eps) {
  checkFloating(x, "lowmem::ms_rms_norm");
  normalizedCols(x, shape, "lowmem::ms_rms_norm");
  return NormFunction::apply(x, shape, eps, true);
}

}  // namespace

TORCH_LIBRARY_IMPL(lowmem, CPU, m) {
  m.impl("norm_forward", forwardCpu);
  m.impl("norm_backward", backwardCpu);
}

TORCH_LIBRARY_IMPL(lowmem, CompositeImplicitAutograd, m) {
  m.impl("ms_layer_norm", msLayerNorm);
  m.impl("ms_rms_norm", msRmsNorm);
}

}  // namespace lowmem::kernels
