// CUDA dispatch of the raw ops, built only against a LibTorch with CUDA (scripts/gpu-check builds it on the
// GPU machine). The kernels themselves live in the nvcc-only object library (kernels/cuda/*.cu).

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "kernels/attention_mask.h"
#include "kernels/cuda/launchers.h"
#include "kernels/ops_common.h"

namespace lowmem::kernels {
namespace {

cuda::DType deviceDtype(const at::Tensor& t, const char* op) {
  switch (t.scalar_type()) {
    case at::kFloat:
      return cuda::DType::kFloat32;
    case at::kHalf:
      return cuda::DType::kFloat16;
    case at::kBFloat16:
      return cuda::DType::kBFloat16;
    default:
      TORCH_CHECK(false, op, ": CUDA kernels take float32, float16 or bfloat16, got ", t.scalar_type());
  }
}

void check(cudaError_t err, const char* op) {
  TORCH_CHECK(err == cudaSuccess, op, ": ", cudaGetErrorString(err));
}

std::tuple<at::Tensor, at::Tensor> forwardCuda(const at::Tensor& x, c10::string_view fn, int64_t bits,
                                               bool saveCodes) {
  constexpr const char* kOp = "lowmem::activation_forward";
  const auto which = parseActivation(fn, kOp);
  const auto& table = activationTable(which, static_cast<int>(bits));
  const c10::cuda::CUDAGuard guard(x.device());
  const auto xc = x.contiguous();
  auto y = at::empty_like(xc, at::MemoryFormat::Contiguous);
  auto packed =
      at::empty({saveCodes ? packedBytes(xc.numel(), table.bits) : 0}, xc.options().dtype(at::kByte));
  check(cuda::activationForward(deviceDtype(xc, kOp), xc.data_ptr(), y.data_ptr(),
                                saveCodes ? packed.data_ptr<uint8_t>() : nullptr, xc.numel(), table, which,
                                at::cuda::getCurrentCUDAStream()),
        kOp);
  return {y, packed};
}

at::Tensor backwardCuda(const at::Tensor& grad, const at::Tensor& packed, c10::string_view fn, int64_t bits) {
  constexpr const char* kOp = "lowmem::activation_backward";
  const auto& table = activationTable(parseActivation(fn, kOp), static_cast<int>(bits));
  TORCH_CHECK(packed.scalar_type() == at::kByte && packed.is_contiguous() &&
                  packed.numel() == packedBytes(grad.numel(), table.bits),
              kOp, ": packed codes do not match the gradient's size");
  const c10::cuda::CUDAGuard guard(grad.device());
  const auto g = grad.contiguous();
  auto gradIn = at::empty_like(g, at::MemoryFormat::Contiguous);
  check(cuda::activationBackward(deviceDtype(g, kOp), g.data_ptr(), packed.data_ptr<uint8_t>(),
                                 gradIn.data_ptr(), g.numel(), table, at::cuda::getCurrentCUDAStream()),
        kOp);
  return gradIn;
}

at::Tensor codesCuda(const at::Tensor& x, c10::string_view fn, int64_t bits) {
  constexpr const char* kOp = "lowmem::activation_codes";
  const auto& table = activationTable(parseActivation(fn, kOp), static_cast<int>(bits));
  const c10::cuda::CUDAGuard guard(x.device());
  const auto xc = x.contiguous();
  auto codes = at::empty(xc.sizes(), xc.options().dtype(at::kByte));
  check(cuda::activationCodes(deviceDtype(xc, kOp), xc.data_ptr(), codes.data_ptr<uint8_t>(), xc.numel(),
                              table, at::cuda::getCurrentCUDAStream()),
        kOp);
  return codes;
}

std::tuple<at::Tensor, at::Tensor> normForwardCuda(const at::Tensor& x, at::IntArrayRef shape, double eps,
                                                   bool rms) {
  constexpr const char* kOp = "lowmem::norm_forward";
  const int64_t cols = normalizedCols(x, shape, kOp);
  const c10::cuda::CUDAGuard guard(x.device());
  const auto xc = x.contiguous();
  auto y = at::empty_like(xc, at::MemoryFormat::Contiguous);
  const int64_t rows = cols == 0 ? 0 : xc.numel() / cols;
  auto rstd = at::empty({rows}, xc.options().dtype(at::kFloat));
  check(cuda::normForward(deviceDtype(xc, kOp), xc.data_ptr(), y.data_ptr(), rstd.data_ptr<float>(), rows,
                          cols, static_cast<float>(eps), rms, at::cuda::getCurrentCUDAStream()),
        kOp);
  return {y, rstd};
}

at::Tensor normBackwardCuda(const at::Tensor& grad, const at::Tensor& y, const at::Tensor& rstd,
                            at::IntArrayRef shape, bool rms) {
  constexpr const char* kOp = "lowmem::norm_backward";
  const int64_t cols = normalizedCols(y, shape, kOp);
  TORCH_CHECK(grad.sizes().equals(y.sizes()) && grad.scalar_type() == y.scalar_type(), kOp,
              ": grad does not match the saved output");
  const c10::cuda::CUDAGuard guard(grad.device());
  const auto g = grad.contiguous();
  auto dx = at::empty_like(g, at::MemoryFormat::Contiguous);
  const int64_t rows = cols == 0 ? 0 : g.numel() / cols;
  check(cuda::normBackward(deviceDtype(g, kOp), g.data_ptr(), y.contiguous().data_ptr(),
                           rstd.contiguous().data_ptr<float>(), dx.data_ptr(), rows, cols, rms,
                           at::cuda::getCurrentCUDAStream()),
        kOp);
  return dx;
}

// The mask the CUDA kernels read: the prepared values' device pointer and the slices' offsets on the device.
struct DeviceMask {
  PreparedMask prepared;
  at::Tensor offsets;
  cuda::AttentionMaskView view;
};

DeviceMask deviceMask(const c10::optional<at::Tensor>& mask, const at::Tensor& q, const at::Tensor& k) {
  DeviceMask m;
  m.prepared = prepareAttentionMask(mask, q, k);
  if (!m.prepared.values.defined()) return m;
  TORCH_CHECK(m.prepared.values.device() == q.device(), "lowmem::attention: attn_mask is on ",
              m.prepared.values.device(), ", q on ", q.device());
  m.offsets = at::tensor(m.prepared.offsets, at::kLong).to(q.device());
  m.view = {m.prepared.view.data, m.offsets.data_ptr<int64_t>(), m.prepared.view.strideQ,
            m.prepared.view.strideK};
  return m;
}

// The CUDA kernels have no dropout (the CPU op's Philox stream is not reproduced on the device yet) and give
// a mask no gradient.
void checkNoDropout(double p, const char* op) {
  TORCH_CHECK(p == 0, op, ": dropout_p > 0 is implemented on CPU only");
}

struct AttentionDims {
  int64_t n, sq, sk, d, dv;
};

AttentionDims attentionDims(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const int64_t d = q.size(-1), sq = q.size(-2);
  return {sq * d == 0 ? 0 : q.numel() / (sq * d), sq, k.size(-2), d, v.size(-1)};
}

std::tuple<at::Tensor, at::Tensor> attentionForwardCuda(const at::Tensor& q, const at::Tensor& k,
                                                        const at::Tensor& v,
                                                        const c10::optional<at::Tensor>& mask, double scale,
                                                        bool causal, double dropoutP, int64_t /*seed*/,
                                                        const c10::optional<at::Tensor>& /*keep*/) {
  constexpr const char* kOp = "lowmem::attention_forward";
  checkAttentionShapes(q, k, v);
  checkNoDropout(dropoutP, kOp);
  const c10::cuda::CUDAGuard guard(q.device());
  const auto m = deviceMask(mask, q, k);
  const auto z = attentionDims(q, k, v);
  const auto qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
  auto oc = at::empty({z.n, z.sq, z.dv}, q.options());
  auto lse = at::empty(q.sizes().slice(0, q.dim() - 1), q.options().dtype(at::kFloat));
  check(cuda::attentionForward(deviceDtype(q, kOp), qc.data_ptr(), kc.data_ptr(), vc.data_ptr(), m.view,
                               static_cast<float>(scale), causal, z.n, z.sq, z.sk, z.d, z.dv, oc.data_ptr(),
                               lse.data_ptr<float>(), at::cuda::getCurrentCUDAStream()),
        kOp);
  // The CPU op's layout: heads stored [..., S, H, Dv] and returned transposed, so the head merge is a view.
  std::vector<int64_t> shape(q.sizes().begin(), q.sizes().end() - 1);
  shape.push_back(z.dv);
  auto o = emptyAttentionOutput(shape, q.options());
  o.copy_(oc.view(shape));
  return {o, lse};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> attentionBackwardCuda(
    const at::Tensor& grad, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const at::Tensor& o, const at::Tensor& lse, const c10::optional<at::Tensor>& mask, double scale,
    bool causal, double dropoutP, int64_t /*seed*/, const c10::optional<at::Tensor>&, bool maskGrad) {
  constexpr const char* kOp = "lowmem::attention_backward";
  checkAttentionShapes(q, k, v);
  checkNoDropout(dropoutP, kOp);
  TORCH_CHECK(!maskGrad, kOp, ": a mask's gradient is computed on CPU only");
  TORCH_CHECK(grad.sizes().equals(o.sizes()) && lse.scalar_type() == at::kFloat, kOp,
              ": grad must match the output and lse be float32");
  const c10::cuda::CUDAGuard guard(q.device());
  const auto m = deviceMask(mask, q, k);
  const auto z = attentionDims(q, k, v);
  const auto qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
  auto dq = at::empty({z.n, z.sq, z.d}, q.options());
  auto dk = at::zeros({z.n, z.sk, z.d}, q.options().dtype(at::kFloat));
  auto dv = at::zeros({z.n, z.sk, z.dv}, q.options().dtype(at::kFloat));
  check(cuda::attentionBackward(deviceDtype(q, kOp), grad.contiguous().data_ptr(), qc.data_ptr(),
                                kc.data_ptr(), vc.data_ptr(), o.contiguous().data_ptr(),
                                lse.contiguous().data_ptr<float>(), m.view, static_cast<float>(scale), causal,
                                z.n, z.sq, z.sk, z.d, z.dv, dq.data_ptr(), dk.data_ptr<float>(),
                                dv.data_ptr<float>(), at::cuda::getCurrentCUDAStream()),
        kOp);
  return {dq.view(q.sizes()), dk.to(k.scalar_type()).view(k.sizes()), dv.to(v.scalar_type()).view(v.sizes()),
          at::Tensor()};
}

}  // namespace

TORCH_LIBRARY_IMPL(lowmem, CUDA, m) {
  m.impl("attention_forward", attentionForwardCuda);
  m.impl("attention_backward", attentionBackwardCuda);
  m.impl("activation_forward", forwardCuda);
  m.impl("activation_backward", backwardCuda);
  m.impl("activation_codes", codesCuda);
  m.impl("norm_forward", normForwardCuda);
  m.impl("norm_backward", normBackwardCuda);
}

}  // namespace lowmem::kernels
