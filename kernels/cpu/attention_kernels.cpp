// lowmem::attention on CPU: softmax(q kᵀ · scale + mask) v without keeping the probabilities. Forward writes
// the output and, per query row, the log-sum-exp of its scores (fp32; fp64 for fp64); backward recomputes
// each row's probabilities from q, k and that number (FlashAttention-2's backward, row by row). Arithmetic in
// fp32 for every storage dtype but fp64. Dropout is drawn per block from a counter-based generator (Philox),
// so backward redraws the forward's mask instead of keeping it. Tasks own whole (batch × head) slices: dk, dv
// accumulate in the task's slices of dk and dv (fp32, fp64) or in its own fp32 buffers (bf16, fp16), so no
// two tasks write the same memory.

#include <ATen/Parallel.h>
#include <ATen/core/PhiloxRNGEngine.h>

#include <cmath>
#include <limits>
#include <vector>

#include "core/attention_tiling.h"
#include "kernels/cpu/cpu_kernels.h"

namespace lowmem::kernels::cpu {
namespace CPU_CAPABILITY {
namespace {

struct Dims {
  int64_t n, sq, sk, d, dv;
  int64_t heads;  // slices a batch index holds (4-d heads); groups of slices never cross one
};

// The cut of the work (core/attention_tiling.h, which the peak prediction reads too): tasks of `group`
// slices in blocks of `block` query rows; a block's scores (rows × keys, the arithmetic type) are the only
// scratch, never kept.
AttentionTiling tilingFor(const Dims& z) {
  return attentionTiling(z.n, z.sq, z.sk, z.heads, at::get_num_threads());
}

// Batched products in the storage dtype for bf16 (BLAS's bf16 path accumulates in fp32 and is several times
// faster here than converting to fp32 first, as the unfused chain runs too), in the arithmetic type
// otherwise; everything between them (scores, softmax, sums) in the arithmetic type.
struct Math {
  at::ScalarType acc;
  at::ScalarType prod;
  at::Tensor bmm(const at::Tensor& a, const at::Tensor& b) const {
    return at::bmm(a.to(prod), b.to(prod)).to(acc);
  }
};

Math mathFor(at::ScalarType storage) {
  const auto acc = storage == at::kDouble ? at::kDouble : at::kFloat;
  return {acc, storage == at::kBFloat16 ? at::kBFloat16 : acc};
}

// A tensor's trailing [rows, cols] matrices, one a (batch × head) slice, in whatever layout it has: one
// [n, rows, cols] view when the layout allows it, else a view a slice. Heads transposed out of their
// projection ([B, S, H, D] seen as [B, H, S, D]) are read and written in place: no whole-tensor copies.
class Slices {
 public:
  Slices(const at::Tensor& t, int64_t n) : options_(t.options()) {
    if (t.is_contiguous()) {
      flat_ = t.view({n, t.size(-2), t.size(-1)});
      return;
    }
    if (t.dim() == 4) heads_ = t;  // blocks within one batch index are views of it
    views_.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {  // leading dimensions unravelled, last fastest
      at::Tensor slice = t;
      int64_t rest = i, stride = n;
      for (int64_t d = 0; d < t.dim() - 2; ++d) {
        stride /= t.size(d);
        slice = slice[rest / stride];
        rest %= stride;
      }
      views_.push_back(std::move(slice));
    }
  }

  // Rows [i0, i0 + rows) of slices [n0, n0 + count): a view, or a [count, rows, cols] copy of the block only.
  at::Tensor block(int64_t n0, int64_t count, int64_t i0, int64_t rows) const {
    if (flat_.defined()) return flat_.narrow(0, n0, count).narrow(1, i0, rows);
    if (auto v = headsView(n0, count); v.defined()) return v.narrow(1, i0, rows);
    std::vector<at::Tensor> parts;
    parts.reserve(static_cast<size_t>(count));
    for (int64_t j = 0; j < count; ++j)
      parts.push_back(views_[static_cast<size_t>(n0 + j)].narrow(0, i0, rows));
    return at::stack(parts);
  }

  // Slices [n0, n0 + count) as one [count, rows, cols] view of the tensor, when its layout has one; undefined
  // otherwise.
  at::Tensor view(int64_t n0, int64_t count) const {
    if (flat_.defined()) return flat_.narrow(0, n0, count);
    return headsView(n0, count);
  }

  void write(int64_t n0, int64_t i0, const at::Tensor& values) const {
    if (flat_.defined()) {
      flat_.narrow(0, n0, values.size(0)).narrow(1, i0, values.size(1)).copy_(values);
      return;
    }
    if (auto v = headsView(n0, values.size(0)); v.defined()) {
      v.narrow(1, i0, values.size(1)).copy_(values);
      return;
    }
    for (int64_t j = 0; j < values.size(0); ++j)
      views_[static_cast<size_t>(n0 + j)].narrow(0, i0, values.size(1)).copy_(values[j]);
  }

  const at::TensorOptions& options() const { return options_; }
  at::ScalarType scalar_type() const { return c10::typeMetaToScalarType(options_.dtype()); }

 private:
  // Slices [n0, n0 + count) of one batch index of a 4-d tensor, as one [count, rows, cols] view.
  at::Tensor headsView(int64_t n0, int64_t count) const {
    if (!heads_.defined()) return {};
    const int64_t h = heads_.size(1), b = n0 / h;
    if ((n0 + count - 1) / h != b) return {};
    return heads_[b].narrow(0, n0 % h, count);
  }

  at::TensorOptions options_;
  at::Tensor heads_;
  at::Tensor flat_;
  std::vector<at::Tensor> views_;
};

// A block of work: slices [n0, n0 + count), query rows [i0, i0 + rows), keys [0, keys).
struct Block {
  int64_t n0, count, i0, rows, keys;
  at::Tensor of(const Slices& t) const { return t.block(n0, count, i0, rows); }
  at::Tensor keysOf(const Slices& t) const { return t.block(n0, count, 0, keys); }
  at::Tensor of(const at::Tensor& t) const { return t.narrow(0, n0, count).narrow(1, i0, rows); }
};

// The block's scores: q kᵀ · scale + mask, -inf where the causal mask removes a key (top-left aligned, as
// torch's is_causal).
at::Tensor blockScores(const Math& math, const Block& b, const Slices& q, const Slices& k,
                       const AttentionMask& mask, double scale, bool causal) {
  auto s = math.bmm(b.of(q), b.keysOf(k).transpose(1, 2)).mul_(scale);
  if (mask.data) {
    // Each slice's mask rows in place, broadcast by strides (views, no copy).
    for (int64_t j = 0; j < b.count; ++j) {
      auto* base = const_cast<float*>(mask.data) + mask.offsets[b.n0 + j] + b.i0 * mask.strideQ;
      s[j].add_(at::from_blob(base, {b.rows, b.keys}, {mask.strideQ, mask.strideK}, at::kFloat)
                    .to(s.scalar_type()));
    }
  }
  if (causal) {
    const auto rows = at::arange(b.i0, b.i0 + b.rows, s.options().dtype(at::kLong)).unsqueeze(1);
    const auto cols = at::arange(b.keys, s.options().dtype(at::kLong)).unsqueeze(0);
    s.masked_fill_(cols > rows, -std::numeric_limits<double>::infinity());
  }
  return s;
}

// The block's factors from the Philox streams: each query row is one stream, drawn from key 0, so a block
// recomputes exactly the factors any other tiling would.
template <typename T>
void drawKeep(const Block& b, const Dims& z, const AttentionDropout& d, T kept, T* out) {
  const auto threshold = static_cast<uint64_t>(std::ldexp(1.0 - d.p, 32));
  for (int64_t j = 0; j < b.count; ++j) {
    for (int64_t i = 0; i < b.rows; ++i) {
      at::Philox4_32 draws(d.seed, static_cast<uint64_t>((b.n0 + j) * z.sq + b.i0 + i));
      for (int64_t key = 0; key < b.keys; ++key)
        *out++ = static_cast<uint64_t>(draws()) < threshold ? kept : T(0);
    }
  }
}

// The block's dropout as factors on its probabilities: 0 where dropped, 1/(1 - p) where kept (aten's samples
// when given, else drawn); undefined without dropout.
at::Tensor blockKeep(const Block& b, const Dims& z, const AttentionDropout& d, at::ScalarType acc) {
  if (d.p <= 0) return {};
  const double kept = d.p < 1 ? 1.0 / (1.0 - d.p) : 0.0;
  if (d.keep) {
    auto* base = const_cast<uint8_t*>(d.keep) + (b.n0 * z.sq + b.i0) * z.sk;
    return at::from_blob(base, {b.count, b.rows, b.keys}, {z.sq * z.sk, z.sk, 1}, at::kByte)
        .to(acc)
        .mul_(kept);
  }
  auto out = at::empty({b.count, b.rows, b.keys}, at::TensorOptions().dtype(acc));
  if (acc == at::kDouble) {
    drawKeep<double>(b, z, d, kept, out.data_ptr<double>());
  } else {
    drawKeep<float>(b, z, d, static_cast<float>(kept), out.data_ptr<float>());
  }
  return out;
}

// Keys any row of a block ending at i1 may see: a causal block needs none past its last row.
int64_t keysFor(int64_t i1, const Dims& z, bool causal) {
  return causal ? std::min(z.sk, i1) : z.sk;
}

// Calls `body(block)` for every block of every task, tasks in parallel. A pool thread starts with default
// dispatch state: the products here are the kernel's own arithmetic, not part of any autograd graph (the op's
// autograd is AttentionFunction's).
template <typename TaskStart, typename Body>
void forEachBlock(const Dims& z, bool causal, TaskStart&& start, Body&& body) {
  const AttentionTiling t = tilingFor(z);
  const int64_t tasks = (z.n + t.group - 1) / t.group;
  at::parallel_for(0, tasks, 1, [&](int64_t t0, int64_t t1) {
    at::AutoDispatchBelowADInplaceOrView belowAutograd;
    for (int64_t task = t0; task < t1; ++task) {
      const int64_t n0 = task * t.group, count = std::min(t.group, z.n - n0);
      auto state = start(n0, count);
      for (int64_t i0 = 0; i0 < z.sq; i0 += t.block) {
        const int64_t rows = std::min(z.sq, i0 + t.block) - i0;
        body(Block{n0, count, i0, rows, keysFor(i0 + rows, z, causal)}, state);
      }
    }
  });
}

void forwardSlices(const Slices& q, const Slices& k, const Slices& v, const Slices& o, const at::Tensor& lse,
                   const Dims& z, const AttentionMask& mask, double scale, bool causal,
                   const AttentionDropout& dropout) {
  const Math math = mathFor(q.scalar_type());
  forEachBlock(
      z, causal, [](int64_t, int64_t) { return 0; },
      [&](const Block& b, int) {
        auto s = blockScores(math, b, q, k, mask, scale, causal);
        auto mx = std::get<0>(s.max(2, true));
        // A row with every key masked has no distribution: output 0 and lse -inf (no gradient), as PyTorch's
        // fused kernels do; the unfused chain gives NaN.
        const auto empty = mx.isinf().logical_and(mx < 0);
        mx.masked_fill_(empty, 0);
        auto p = s.sub_(mx).exp_();
        auto sum = p.sum(2, true);
        // Dropped after normalising, as the chain drops softmax's output: the sum is over every key.
        if (auto keep = blockKeep(b, z, dropout, math.acc); keep.defined()) p.mul_(keep);
        auto out = math.bmm(p, b.keysOf(v)).div_(sum.clamp_min(std::numeric_limits<float>::min()));
        out.masked_fill_(empty, 0);
        o.write(b.n0, b.i0, out);
        auto l = mx.add_(sum.log_()).masked_fill_(empty, -std::numeric_limits<double>::infinity());
        b.of(lse.unsqueeze(2)).copy_(l);
      });
}

void backwardSlices(const Slices& grad, const Slices& q, const Slices& k, const Slices& v, const Slices& o,
                    const at::Tensor& lse, const Slices& dq, const Slices& dk, const Slices& dv,
                    const Dims& z, const AttentionMask& mask, double scale, bool causal,
                    const AttentionDropout& dropout, const at::Tensor& dmask) {
  const Math math = mathFor(q.scalar_type());
  // Gradients stored in the arithmetic type (fp32, fp64) accumulate in place (baddbmm) into dk and dv
  // themselves where a task's slices are one view of them (zeroed first): the backward then holds no
  // accumulators and no partial products beside its block. bf16 and fp16 accumulate in the task's own fp32
  // buffers.
  const bool inPlace = q.scalar_type() == math.acc;
  struct Grads {
    int64_t n0, count;
    at::Tensor dk, dv;
    bool own;  // the task's buffers, copied into dk and dv after its last block
  };
  forEachBlock(
      z, causal,
      [&](int64_t n0, int64_t count) {
        auto vk = inPlace ? dk.view(n0, count) : at::Tensor(),
             vv = inPlace ? dv.view(n0, count) : at::Tensor();
        if (vk.defined() && vv.defined()) return Grads{n0, count, vk.zero_(), vv.zero_(), false};
        return Grads{n0, count, at::zeros({count, z.sk, z.d}, k.options().dtype(math.acc)),
                     at::zeros({count, z.sk, z.dv}, v.options().dtype(math.acc)), true};
      },
      [&](const Block& b, Grads& g) {
        const auto qb = b.of(q).to(math.prod), gb = b.of(grad).to(math.prod);
        const auto lb = b.of(lse.unsqueeze(2)).to(math.acc);
        // The probabilities again, from the scores and the saved log-sum-exp (exp(-inf) = 0 for empty rows).
        auto p = blockScores(math, b, q, k, mask, scale, causal).sub_(lb).exp_();
        p.masked_fill_(lb.isinf(), 0);
        // dS = P ∘ (dP − rowsum(dO ∘ O)) · scale with dP = (dO vᵀ) ∘ keep: the softmax's backward without
        // storing P. rowsum(dO ∘ O) = Σ_j P_ij dP_ij still holds under dropout, since O = (P ∘ keep) v.
        const auto di = (gb.to(math.acc) * b.of(o).to(math.acc)).sum(2, true);
        auto dp = math.bmm(gb, b.keysOf(v).transpose(1, 2));
        // One block of scratch more than without dropout: the factors, turned in place into P ∘ keep.
        auto kept = blockKeep(b, z, dropout, math.acc);
        if (kept.defined()) {
          dp.mul_(kept);
          kept.mul_(p);
        } else {
          kept = p;
        }
        auto ds = dp.sub_(di).mul_(p);
        // The scores' gradient is an additive mask's (mask broadcasts are summed by the caller).
        if (dmask.defined()) b.of(dmask).narrow(2, 0, b.keys).copy_(ds);
        ds.mul_(scale);
        const auto kb = b.keysOf(k);
        if (auto view = inPlace ? dq.view(b.n0, b.count) : at::Tensor(); view.defined()) {
          auto rows = view.narrow(1, b.i0, b.rows);
          rows.zero_().baddbmm_(ds, kb);
        } else {
          dq.write(b.n0, b.i0, math.bmm(ds, kb));
        }
        if (inPlace) {
          g.dk.narrow(1, 0, b.keys).baddbmm_(ds.transpose(1, 2), qb);
          g.dv.narrow(1, 0, b.keys).baddbmm_(kept.transpose(1, 2), gb);
        } else {
          g.dk.narrow(1, 0, b.keys).add_(math.bmm(ds.transpose(1, 2), qb));
          g.dv.narrow(1, 0, b.keys).add_(math.bmm(kept.transpose(1, 2), gb));
        }
        if (g.own && b.i0 + b.rows == z.sq) {  // the task's last block
          dk.write(g.n0, 0, g.dk);
          dv.write(g.n0, 0, g.dv);
        }
      });
}

// Heads with more than one dimension before them ([B, nW, H, S, D], Swin's windows as the rewrite views them)
// as [B·nW, H, S, D] where that is a view, so they take the 4-d heads' batched paths; as they are otherwise
// (slice by slice). The slices keep their order either way, which the mask's offsets follow.
at::Tensor asHeads(const at::Tensor& t) {
  if (!t.defined() || t.dim() <= 4) return t;
  try {
    return t.view({-1, t.size(-3), t.size(-2), t.size(-1)});
  } catch (const c10::Error&) {
    return t;
  }
}

Dims dimsOf(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const int64_t d = q.size(-1), sq = q.size(-2), sk = k.size(-2), dv = v.size(-1);
  return {sq * d == 0 ? 0 : q.numel() / (sq * d), sq, sk, d, dv, q.dim() == 4 ? q.size(1) : 1};
}

}  // namespace

void attentionForward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                      const AttentionMask& mask, double scale, bool causal, const AttentionDropout& dropout,
                      const at::Tensor& o, const at::Tensor& lse) {
  const auto qh = asHeads(q);
  const auto z = dimsOf(qh, k, v);
  forwardSlices(Slices(qh, z.n), Slices(asHeads(k), z.n), Slices(asHeads(v), z.n), Slices(asHeads(o), z.n),
                lse.view({z.n, z.sq}), z, mask, scale, causal, dropout);
}

void attentionBackward(const at::Tensor& grad, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                       const at::Tensor& o, const at::Tensor& lse, const AttentionMask& mask, double scale,
                       bool causal, const AttentionDropout& dropout, const at::Tensor& dq,
                       const at::Tensor& dk, const at::Tensor& dv, const at::Tensor& dmask) {
  const auto qh = asHeads(q);
  const auto z = dimsOf(qh, k, v);
  const auto slices = [&z](const at::Tensor& t) { return Slices(asHeads(t), z.n); };
  backwardSlices(slices(grad), Slices(qh, z.n), slices(k), slices(v), slices(o), lse.view({z.n, z.sq}),
                 slices(dq), slices(dk), slices(dv), z, mask, scale, causal, dropout,
                 dmask.defined() ? dmask.view({z.n, z.sq, z.sk}) : at::Tensor());
}

}  // namespace CPU_CAPABILITY
}  // namespace lowmem::kernels::cpu
