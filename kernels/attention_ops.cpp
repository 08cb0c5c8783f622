// lowmem::attention: softmax(q kᵀ · scale + mask) v with causal masking as torch's is_causal (top-left),
// keeping for backward q, k, v, the returned output (the same storages, no copies) and one log-sum-exp per
// query row, instead of the s×s probabilities the unfused chain keeps. A row whose every key is masked gives
// 0 and no gradient (the unfused chain gives NaN there). A floating mask that requires grad gets the scores'
// gradient, summed over its broadcast dimensions (T5's learned position bias): a transient the size of the
// scores in backward, as the chain's add passes back. Dropout on the probabilities (dropout_p > 0, CPU):
// the same distribution as aten::dropout, drawn from a Philox stream keyed by one 64-bit seed taken from
// torch's CPU generator a call, so torch.manual_seed makes a step repeatable and backward redraws the mask.

#include <ATen/CPUGeneratorImpl.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/attention_dropout.h"
#include "kernels/attention_mask.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/ops_common.h"

namespace lowmem::kernels {
namespace {

constexpr const char* kOp = "lowmem::attention";

thread_local bool tDropoutAsAten = false;

}  // namespace

DropoutAsAten::DropoutAsAten() : previous_(setDropoutAsAten(true)) {}

DropoutAsAten::~DropoutAsAten() {
  setDropoutAsAten(previous_);
}

bool dropoutAsAten() {
  return tDropoutAsAten;
}

bool setDropoutAsAten(bool enabled) {
  const bool previous = tDropoutAsAten;
  tDropoutAsAten = enabled;
  return previous;
}

void checkAttentionShapes(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  for (const auto* t : {&q, &k, &v}) {
    checkFloating(*t, kOp);
    TORCH_CHECK(t->dim() >= 2, kOp, ": q, k and v need at least 2 dimensions (..., seq, dim), got ",
                t->sizes());
  }
  TORCH_CHECK(k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type(), kOp,
              ": q, k and v must share a dtype, got ", q.scalar_type(), ", ", k.scalar_type(), ", ",
              v.scalar_type());
  TORCH_CHECK(k.size(-1) == q.size(-1), kOp, ": q and k must have the same last dimension, got ", q.sizes(),
              " and ", k.sizes());
  TORCH_CHECK(v.size(-2) == k.size(-2), kOp, ": k and v must have the same sequence length, got ", k.sizes(),
              " and ", v.sizes());
  const auto batch = q.sizes().slice(0, q.dim() - 2);
  TORCH_CHECK(k.sizes().slice(0, k.dim() - 2).equals(batch) && v.sizes().slice(0, v.dim() - 2).equals(batch),
              kOp, ": q, k and v must have the same leading dimensions, got ", q.sizes(), ", ", k.sizes(),
              ", ", v.sizes());
}

PreparedMask prepareAttentionMask(const c10::optional<at::Tensor>& mask, const at::Tensor& q,
                                  const at::Tensor& k) {
  PreparedMask out;
  if (!mask || !mask->defined()) return out;
  at::Tensor m = mask->detach();
  if (m.scalar_type() == at::kBool) {
    m = at::zeros(m.sizes(), m.options().dtype(at::kFloat))
            .masked_fill(m.logical_not(), -std::numeric_limits<float>::infinity());
  } else {
    checkFloating(m, kOp);
    m = m.to(at::kFloat);
  }
  std::vector<int64_t> full(q.sizes().begin(), q.sizes().end() - 1);
  full.push_back(k.size(-2));
  TORCH_CHECK(m.dim() <= static_cast<int64_t>(full.size()), kOp, ": attn_mask ", m.sizes(),
              " does not broadcast to ", at::IntArrayRef(full));
  at::Tensor e;
  try {
    e = m.expand(full);
  } catch (const c10::Error&) {
    TORCH_CHECK(false, kOp, ": attn_mask ", m.sizes(), " does not broadcast to ", at::IntArrayRef(full));
  }
  const int64_t batchDims = e.dim() - 2;
  int64_t slices = 1;
  for (int64_t d = 0; d < batchDims; ++d)
    slices *= e.size(d);
  out.offsets.resize(static_cast<size_t>(slices));
  for (int64_t n = 0; n < slices; ++n) {
    int64_t rest = n, offset = e.storage_offset();
    for (int64_t d = batchDims - 1; d >= 0; --d) {
      offset += (rest % e.size(d)) * e.stride(d);
      rest /= e.size(d);
    }
    out.offsets[static_cast<size_t>(n)] = offset;
  }
  out.values = m;
  out.view = {m.data_ptr<float>() - m.storage_offset(), out.offsets.data(), e.stride(-2), e.stride(-1)};
  return out;
}

at::Tensor emptyAttentionOutput(std::vector<int64_t> shape, const at::TensorOptions& options) {
  if (shape.size() < 4) return at::empty(shape, options);
  std::swap(shape[shape.size() - 3], shape[shape.size() - 2]);
  return at::empty(shape, options).transpose(-3, -2);
}

namespace {

using ForwardSig = std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                      const c10::optional<at::Tensor>&, double, bool, double,
                                                      int64_t, const c10::optional<at::Tensor>&);
using BackwardSig = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor>(
    const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&,
    const at::Tensor&, const c10::optional<at::Tensor>&, double, bool, double, int64_t,
    const c10::optional<at::Tensor>&, bool);

// The kernels' view of the dropout arguments; `keep` must outlive it.
cpu::AttentionDropout dropoutView(const at::Tensor& q, const at::Tensor& k, double p, int64_t seed,
                                  const c10::optional<at::Tensor>& keep) {
  cpu::AttentionDropout d{p, static_cast<uint64_t>(seed), nullptr};
  if (p > 0 && keep && keep->defined()) {
    const int64_t expected = k.size(-2) * (q.numel() / std::max<int64_t>(1, q.size(-1)));
    TORCH_CHECK(keep->scalar_type() == at::kByte && keep->is_contiguous() && keep->numel() == expected, kOp,
                ": dropout_keep must be a contiguous uint8 tensor of the probabilities' shape");
    d.keep = keep->data_ptr<uint8_t>();
  }
  return d;
}

at::ScalarType lseType(const at::Tensor& q) {
  return q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
}

std::tuple<at::Tensor, at::Tensor> forwardCpu(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                              const c10::optional<at::Tensor>& mask, double scale,
                                              bool causal, double dropoutP, int64_t seed,
                                              const c10::optional<at::Tensor>& keep) {
  checkAttentionShapes(q, k, v);
  const auto mk = prepareAttentionMask(mask, q, k);
  std::vector<int64_t> oShape(q.sizes().begin(), q.sizes().end() - 1);
  oShape.push_back(v.size(-1));
  auto o = emptyAttentionOutput(oShape, q.options());
  auto lse = at::empty(q.sizes().slice(0, q.dim() - 1), q.options().dtype(lseType(q)));
  // q, k and v are read in their own layouts (heads transposed out of a projection): nothing is copied whole.
  if (o.numel() > 0) {
    cpu::cpuKernels().attentionForward(q, k, v, mk.view, scale, causal,
                                       dropoutView(q, k, dropoutP, seed, keep), o, lse);
  }
  return {o, lse};
}

// The gradient of a mask from the scores' gradient `full` ([..., sq, sk]): summed to the mask's own shape.
at::Tensor maskGradient(const at::Tensor& full, const at::Tensor& q, const at::Tensor& k,
                        const at::Tensor& mask) {
  std::vector<int64_t> shape(q.sizes().begin(), q.sizes().end() - 1);
  shape.push_back(k.size(-2));
  return full.view(shape).sum_to_size(mask.sizes()).to(mask.scalar_type());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> backwardCpu(
    const at::Tensor& grad, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
    const at::Tensor& o, const at::Tensor& lse, const c10::optional<at::Tensor>& mask, double scale,
    bool causal, double dropoutP, int64_t seed, const c10::optional<at::Tensor>& keep, bool maskGrad) {
  checkAttentionShapes(q, k, v);
  TORCH_CHECK(grad.sizes().equals(o.sizes()) && grad.scalar_type() == o.scalar_type(),
              "lowmem::attention_backward: grad ", grad.sizes(), " does not match the output ", o.sizes());
  TORCH_CHECK(lse.scalar_type() == lseType(q) && lse.numel() == q.numel() / std::max<int64_t>(1, q.size(-1)),
              "lowmem::attention_backward: lse must hold one ", lseType(q), " per query row");
  const auto mk = prepareAttentionMask(mask, q, k);
  // The gradients in their inputs' layouts, everything read in place: the backward's only scratch is per
  // block, so it holds no whole-tensor copies beside what the chain's backward would make.
  auto dq = at::empty_like(q), dk = at::empty_like(k), dv = at::empty_like(v);
  const bool floatMask = mask && mask->defined() && mask->scalar_type() != at::kBool;
  TORCH_CHECK(!maskGrad || floatMask, "lowmem::attention_backward: mask_grad needs a floating attn_mask");
  // The scores' gradient for the mask, whole: a transient as large as the chain's add would pass back.
  auto full = maskGrad ? at::zeros({q.numel() / std::max<int64_t>(1, q.size(-1)), k.size(-2)},
                                   q.options().dtype(lseType(q)))
                       : at::Tensor();
  if (q.numel() > 0 && k.numel() > 0) {
    cpu::cpuKernels().attentionBackward(grad, q, k, v, o, lse.contiguous(), mk.view, scale, causal,
                                        dropoutView(q, k, dropoutP, seed, keep), dq, dk, dv, full);
  } else {
    dq.zero_();
    dk.zero_();
    dv.zero_();
  }
  return {dq, dk, dv, maskGrad ? maskGradient(full, q, k, *mask) : at::Tensor()};
}

class AttentionFunction : public torch::autograd::Function<AttentionFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const c10::optional<at::Tensor>& mask, double scale,
                            bool causal, double dropoutP, int64_t seed,
                            const c10::optional<at::Tensor>& keep) {
    static const auto op = lowmemOp<ForwardSig>("lowmem::attention_forward");
    auto [o, lse] = op.call(q, k, v, mask, scale, causal, dropoutP, seed, keep);
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["causal"] = causal;
    // The seed, not the mask: backward redraws it (aten's samples, kept only when the verifier asks for
    // them).
    ctx->saved_data["dropout_p"] = dropoutP;
    ctx->saved_data["seed"] = seed;
    // q, k, v as given and o as returned: saved by reference to their storages, nothing copied. The mask and
    // kept samples are saved variables too (undefined when absent), not saved_data, which lives as long as
    // the graph: saved variables are released as soon as this node's backward has run.
    ctx->save_for_backward({q, k, v, o, lse, mask ? *mask : at::Tensor(), keep ? *keep : at::Tensor()});
    return o;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    static const auto op = lowmemOp<BackwardSig>("lowmem::attention_backward");
    const auto s = ctx->get_saved_variables();
    const auto optional = [](const at::Tensor& t) {
      return t.defined() ? c10::optional<at::Tensor>(t) : c10::nullopt;
    };
    // A mask that requires grad (a learned bias) gets the scores' gradient.
    const bool maskGrad = s[5].defined() && ctx->needs_input_grad(3);
    auto [dq, dk, dv, dmask] =
        op.call(grads[0], s[0], s[1], s[2], s[3], s[4], optional(s[5]), ctx->saved_data["scale"].toDouble(),
                ctx->saved_data["causal"].toBool(), ctx->saved_data["dropout_p"].toDouble(),
                ctx->saved_data["seed"].toInt(), optional(s[6]), maskGrad);
    return {dq, dk, dv, dmask, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// What one call drops with: a Philox seed taken from torch's CPU generator, or, under DropoutAsAten, the mask
// aten::dropout would draw for the probabilities at this point of the generator's stream (the same call,
// bernoulli_ on a tensor of their shape; none for p = 1, as aten::dropout draws none).
struct DropoutDraw {
  int64_t seed = 0;
  c10::optional<at::Tensor> keep;
};

DropoutDraw drawDropout(const at::Tensor& q, const at::Tensor& k, double p) {
  DropoutDraw d;
  if (p <= 0 || q.numel() == 0 || k.numel() == 0) return d;
  if (dropoutAsAten()) {
    std::vector<int64_t> shape(q.sizes().begin(), q.sizes().end() - 1);
    shape.push_back(k.size(-2));
    auto noise = at::empty(shape, q.options().dtype(at::kFloat));
    if (p < 1) {
      noise.bernoulli_(1 - p);
    } else {
      noise.zero_();
    }
    d.keep = noise.to(at::kByte).contiguous();
    return d;
  }
  TORCH_CHECK(q.device().is_cpu(), kOp, ": dropout_p > 0 is implemented on CPU only; got q on ", q.device());
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  d.seed = static_cast<int64_t>(gen.get<at::CPUGeneratorImpl>()->random64());
  return d;
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const c10::optional<at::Tensor>& mask, c10::optional<double> scale, bool causal,
                     double dropoutP) {
  checkAttentionShapes(q, k, v);
  TORCH_CHECK(dropoutP >= 0 && dropoutP <= 1, kOp, ": dropout_p must be in [0, 1], got ", dropoutP);
  const double s = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const auto draw = drawDropout(q, k, dropoutP);
  return AttentionFunction::apply(q, k, v, mask, s, causal, dropoutP, draw.seed, draw.keep);
}

}  // namespace

TORCH_LIBRARY_IMPL(lowmem, CPU, m) {
  m.impl("attention_forward", forwardCpu);
  m.impl("attention_backward", backwardCpu);
}

TORCH_LIBRARY_IMPL(lowmem, CompositeImplicitAutograd, m) {
  m.impl("attention", attention);
}

}  // namespace lowmem::kernels
