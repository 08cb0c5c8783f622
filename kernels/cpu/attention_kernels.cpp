// lowmem::attention on CPU: softmax(q kᵀ · scale + mask) v without keeping the probabilities. Forward writes
// the output and, per query row, the log-sum-exp of its scores (fp32; fp64 for fp64); backward recomputes
// each row's probabilities from q, k and that number (FlashAttention-2's backward, row by row). Arithmetic in
// fp32 for every storage dtype but fp64. One (batch × head) slice per task: k and v are converted to the
// arithmetic type once per slice, and dk, dv accumulate in that slice's own buffers, so no two tasks write
// the same memory.

#include <ATen/Parallel.h>

#include <cmath>
#include <limits>

#include "kernels/cpu/cpu_kernels.h"

namespace lowmem::kernels::cpu {
namespace CPU_CAPABILITY {
namespace {

struct Dims {
  int64_t n, sq, sk, d, dv;
};

// Query rows per block: the block's scores (rows × keys, the arithmetic type) are the only scratch, never
// kept. About 64K scores a block (256 KiB in fp32, within L2): a whole ViT slice (197 × 197) is one block,
// a 2,048-token one 32 rows, so short sequences make few calls and long ones bounded scratch.
int64_t rowsPerBlock(int64_t keys) {
  return std::max<int64_t>(16, (int64_t{1} << 16) / std::max<int64_t>(1, keys));
}

// Matrix products in the storage dtype for bf16 (BLAS's bf16 path accumulates in fp32 and is several times
// faster here than converting to fp32 first, as the unfused chain runs too), in the arithmetic type
// otherwise; everything between them (scores, softmax, sums) in the arithmetic type.
struct Math {
  at::ScalarType acc;
  at::ScalarType prod;
  at::Tensor mm(const at::Tensor& a, const at::Tensor& b) const {
    return at::mm(a.to(prod), b.to(prod)).to(acc);
  }
};

Math mathFor(at::ScalarType storage) {
  const auto acc = storage == at::kDouble ? at::kDouble : at::kFloat;
  return {acc, storage == at::kBFloat16 ? at::kBFloat16 : acc};
}

// The scores of query rows [i0, i0 + rows) of slice n against keys [0, keys): q kᵀ · scale + mask, -inf where
// the causal mask removes a key (top-left aligned, as torch's is_causal).
at::Tensor blockScores(const Math& math, const at::Tensor& qb, const at::Tensor& k, int64_t n, int64_t i0,
                       int64_t keys, const AttentionMask& mask, double scale, bool causal) {
  auto s = math.mm(qb, k.narrow(0, 0, keys).t()).mul_(scale);
  if (mask.data) {
    // The mask's rows in place, broadcast by strides (a view, no copy).
    auto* base = const_cast<float*>(mask.data) + mask.offsets[n] + i0 * mask.strideQ;
    const auto m = at::from_blob(base, {qb.size(0), keys}, {mask.strideQ, mask.strideK}, at::kFloat);
    s.add_(m.to(s.scalar_type()));
  }
  if (causal) {
    // Row r keeps keys j <= i0 + r.
    const auto rows = at::arange(i0, i0 + qb.size(0), s.options().dtype(at::kLong)).unsqueeze(1);
    const auto cols = at::arange(keys, s.options().dtype(at::kLong)).unsqueeze(0);
    s.masked_fill_(cols > rows, -std::numeric_limits<double>::infinity());
  }
  return s;
}

// Keys any row of a block ending at i1 may see: a causal block needs none past its last row.
int64_t keysFor(int64_t i1, const Dims& z, bool causal) {
  return causal ? std::min(z.sk, i1) : z.sk;
}

void forwardSlices(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& o,
                   const at::Tensor& lse, const Dims& z, const AttentionMask& mask, double scale,
                   bool causal) {
  const Math math = mathFor(q.scalar_type());
  at::parallel_for(0, z.n, 1, [&](int64_t n0, int64_t n1) {
    // A pool thread starts with default dispatch state: the products here are the kernel's own arithmetic,
    // not part of any autograd graph (the op's autograd is AttentionFunction's).
    at::AutoDispatchBelowADInplaceOrView belowAutograd;
    for (int64_t n = n0; n < n1; ++n) {
      const auto kn = k[n].to(math.prod), vn = v[n].to(math.prod);
      const int64_t block = rowsPerBlock(z.sk);
      for (int64_t i0 = 0; i0 < z.sq; i0 += block) {
        const int64_t rows = std::min(z.sq, i0 + block) - i0, keys = keysFor(i0 + rows, z, causal);
        const auto qb = q[n].narrow(0, i0, rows);
        auto s = blockScores(math, qb, kn, n, i0, keys, mask, scale, causal);
        auto mx = std::get<0>(s.max(1, true));
        // A row with every key masked has no distribution: output 0 and lse -inf (no gradient), as PyTorch's
        // fused kernels do; the unfused chain gives NaN.
        const auto empty = mx.isinf().logical_and(mx < 0);
        mx.masked_fill_(empty, 0);
        auto p = s.sub_(mx).exp_();
        auto sum = p.sum(1, true);
        auto out = math.mm(p, vn.narrow(0, 0, keys)).div_(sum.clamp_min(std::numeric_limits<float>::min()));
        out.masked_fill_(empty, 0);
        o[n].narrow(0, i0, rows).copy_(out);
        auto l = mx.add_(sum.log_()).masked_fill_(empty, -std::numeric_limits<double>::infinity());
        lse[n].narrow(0, i0, rows).copy_(l.squeeze(1));
      }
    }
  });
}

void backwardSlices(const at::Tensor& grad, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const at::Tensor& o, const at::Tensor& lse, const at::Tensor& dq, const at::Tensor& dk,
                    const at::Tensor& dv, const Dims& z, const AttentionMask& mask, double scale,
                    bool causal) {
  const Math math = mathFor(q.scalar_type());
  at::parallel_for(0, z.n, 1, [&](int64_t n0, int64_t n1) {
    at::AutoDispatchBelowADInplaceOrView belowAutograd;  // as in forwardSlices
    for (int64_t n = n0; n < n1; ++n) {
      const auto kn = k[n].to(math.prod), vn = v[n].to(math.prod);
      auto dkn = at::zeros(kn.sizes(), kn.options().dtype(math.acc));
      auto dvn = at::zeros(vn.sizes(), vn.options().dtype(math.acc));
      const int64_t block = rowsPerBlock(z.sk);
      for (int64_t i0 = 0; i0 < z.sq; i0 += block) {
        const int64_t rows = std::min(z.sq, i0 + block) - i0, keys = keysFor(i0 + rows, z, causal);
        const auto qb = q[n].narrow(0, i0, rows).to(math.prod);
        const auto gb = grad[n].narrow(0, i0, rows).to(math.prod);
        const auto lb = lse[n].narrow(0, i0, rows).unsqueeze(1).to(math.acc);
        // The probabilities again, from the scores and the saved log-sum-exp (exp(-inf) = 0 for empty rows).
        auto p = blockScores(math, qb, kn, n, i0, keys, mask, scale, causal).sub_(lb).exp_();
        p.masked_fill_(lb.isinf(), 0);
        const auto kk = kn.narrow(0, 0, keys), vk = vn.narrow(0, 0, keys);
        // dS = P ∘ (dO vᵀ − rowsum(dO ∘ O)) · scale: the softmax's backward without storing P.
        const auto di = (gb.to(math.acc) * o[n].narrow(0, i0, rows).to(math.acc)).sum(1, true);
        auto ds = math.mm(gb, vk.t()).sub_(di).mul_(p).mul_(scale);
        dq[n].narrow(0, i0, rows).copy_(math.mm(ds, kk));
        dkn.narrow(0, 0, keys).add_(math.mm(ds.t(), qb));
        dvn.narrow(0, 0, keys).add_(math.mm(p.t(), gb));
      }
      dk[n].copy_(dkn);
      dv[n].copy_(dvn);
    }
  });
}

Dims dimsOf(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const int64_t d = q.size(-1), sq = q.size(-2), sk = k.size(-2), dv = v.size(-1);
  return {sq * d == 0 ? 0 : q.numel() / (sq * d), sq, sk, d, dv};
}

// [n, rows, cols] views of contiguous tensors, whatever their leading dimensions.
at::Tensor slices(const at::Tensor& t, int64_t n) {
  return t.view({n, t.size(-2), t.size(-1)});
}

}  // namespace

void attentionForward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                      const AttentionMask& mask, double scale, bool causal, const at::Tensor& o,
                      const at::Tensor& lse) {
  const auto z = dimsOf(q, k, v);
  forwardSlices(slices(q, z.n), slices(k, z.n), slices(v, z.n), slices(o, z.n), lse.view({z.n, z.sq}), z,
                mask, scale, causal);
}

void attentionBackward(const at::Tensor& grad, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                       const at::Tensor& o, const at::Tensor& lse, const AttentionMask& mask, double scale,
                       bool causal, const at::Tensor& dq, const at::Tensor& dk, const at::Tensor& dv) {
  const auto z = dimsOf(q, k, v);
  backwardSlices(slices(grad, z.n), slices(q, z.n), slices(k, z.n), slices(v, z.n), slices(o, z.n),
                 lse.view({z.n, z.sq}), slices(dq, z.n), slices(dk, z.n), slices(dv, z.n), z, mask, scale,
                 causal);
}

}  // namespace CPU_CAPABILITY
}  // namespace lowmem::kernels::cpu
