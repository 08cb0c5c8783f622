// ReGELU-k / ReSiLU-k: the raw CPU kernels and the autograd ops on top of them.
// Saved for backward: the packed codes only (ceil(numel * bits / 8) bytes); the input is not kept.

#include <torch/autograd.h>
#include <torch/library.h>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/ops_common.h"

namespace lowmem::kernels {
namespace {

using ForwardSig = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, c10::string_view, int64_t, bool);
using BackwardSig = at::Tensor(const at::Tensor&, const at::Tensor&, c10::string_view, int64_t);

std::tuple<at::Tensor, at::Tensor> forwardCpu(const at::Tensor& x, c10::string_view fn, int64_t bits,
                                              bool saveCodes) {
  constexpr const char* kOp = "lowmem::activation_forward";
  checkFloating(x, kOp);
  const auto which = parseActivation(fn, kOp);
  const auto& table = activationTable(which, static_cast<int>(bits));
  const auto xc = x.contiguous();
  auto y = at::empty_like(xc, at::MemoryFormat::Contiguous);
  auto packed =
      at::empty({saveCodes ? packedBytes(xc.numel(), table.bits) : 0}, xc.options().dtype(at::kByte));
  if (xc.numel() > 0)
    cpu::cpuKernels().activationForward(xc, y, saveCodes ? packed : at::Tensor(), table, which);
  return {y, packed};
}

at::Tensor backwardCpu(const at::Tensor& grad, const at::Tensor& packed, c10::string_view fn, int64_t bits) {
  constexpr const char* kOp = "lowmem::activation_backward";
  checkFloating(grad, kOp);
  const auto& table = activationTable(parseActivation(fn, kOp), static_cast<int>(bits));
  TORCH_CHECK(packed.scalar_type() == at::kByte && packed.is_contiguous(), kOp,
              ": packed codes must be a contiguous uint8 tensor");
  TORCH_CHECK(packed.numel() == packedBytes(grad.numel(), table.bits), kOp, ": ", packed.numel(),
              " code bytes for ", grad.numel(), " elements at ", bits, " bits (expected ",
              packedBytes(grad.numel(), table.bits), ")");
  const auto g = grad.contiguous();
  auto gradIn = at::empty_like(g, at::MemoryFormat::Contiguous);
  if (g.numel() > 0) cpu::cpuKernels().activationBackward(g, packed, gradIn, table);
  return gradIn;
}

at::Tensor codesCpu(const at::Tensor& x, c10::string_view fn, int64_t bits) {
  constexpr const char* kOp = "lowmem::activation_codes";
  checkFloating(x, kOp);
  const auto& table = activationTable(parseActivation(fn, kOp), static_cast<int>(bits));
  const auto xc = x.contiguous();
  auto codes = at::empty(xc.sizes(), xc.options().dtype(at::kByte));
  if (xc.numel() > 0) cpu::cpuKernels().activationCodes(xc, codes, table);
  return codes;
}

class ActivationFunction : public torch::autograd::Function<ActivationFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const std::string& fn,
                            int64_t bits) {
    static const auto op = lowmemOp<ForwardSig>("lowmem::activation_forward");
    // Codes are only worth writing when a backward can follow.
    auto [y, packed] = op.call(x, fn, bits, x.requires_grad());
    ctx->saved_data["fn"] = fn;
    ctx->saved_data["bits"] = bits;
    ctx->save_for_backward({packed});
    return y;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    static const auto op = lowmemOp<BackwardSig>("lowmem::activation_backward");
    const auto saved = ctx->get_saved_variables();
    auto gradIn =
        op.call(grads[0], saved[0], ctx->saved_data["fn"].toStringRef(), ctx->saved_data["bits"].toInt());
    return {gradIn, at::Tensor(), at::Tensor()};
  }
};

at::Tensor activation(const at::Tensor& x, const char* op, const std::string& fn, int64_t bits) {
  checkFloating(x, op);
  TORCH_CHECK(bits >= 2 && bits <= kMaxBits, op, ": bits must be 2, 3 or 4, got ", bits);
  return ActivationFunction::apply(x, fn, bits);
}

at::Tensor regelu2(const at::Tensor& x) {
  return activation(x, "lowmem::regelu2", "gelu", 2);
}
at::Tensor resilu2(const at::Tensor& x) {
  return activation(x, "lowmem::resilu2", "silu", 2);
}
at::Tensor regelu(const at::Tensor& x, int64_t bits) {
  return activation(x, "lowmem::regelu", "gelu", bits);
}
at::Tensor resilu(const at::Tensor& x, int64_t bits) {
  return activation(x, "lowmem::resilu", "silu", bits);
}

}  // namespace

TORCH_LIBRARY_IMPL(lowmem, CPU, m) {
  m.impl("activation_forward", forwardCpu);
  m.impl("activation_backward", backwardCpu);
  m.impl("activation_codes", codesCpu);
}

// Composite: the same autograd function serves every device; the raw ops dispatch to the device's kernels.
TORCH_LIBRARY_IMPL(lowmem, CompositeImplicitAutograd, m) {
  m.impl("regelu2", regelu2);
  m.impl("resilu2", resilu2);
  m.impl("regelu", regelu);
  m.impl("resilu", resilu);
}

}  // namespace lowmem::kernels
