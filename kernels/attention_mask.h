#pragma once
// lowmem::attention's argument checks and its mask as the kernels read it, shared by the CPU and CUDA
// dispatch (kernels/attention_ops.cpp, kernels/cuda_ops.cpp).

#include <ATen/ATen.h>

#include <vector>

#include "kernels/cpu/cpu_kernels.h"

namespace lowmem::kernels {

// q, k, v: floating, one dtype, [..., seq, dim] with the same leading dimensions; a c10::Error naming the op.
void checkAttentionShapes(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// The mask as fp32 additive values on its own device (a boolean mask: true takes part, false is -inf),
// broadcast to [..., sq, sk] without copying, with each (batch × head) slice's element offset; `view` points
// into `values` (device memory for a CUDA mask).
struct PreparedMask {
  at::Tensor values;
  std::vector<int64_t> offsets;
  cpu::AttentionMask view;
};
PreparedMask prepareAttentionMask(const c10::optional<at::Tensor>& mask, const at::Tensor& q,
                                  const at::Tensor& k);

// The op's output, [..., sq, dv] (the shape q's leading dimensions and v's last give): heads [..., H, sq, dv]
// are stored [..., sq, H, dv] and returned transposed, so the head merge that follows
// (o.transpose(1, 2).reshape(B, S, H·dv)) is a view, not a copy, and the layer after it saves the op's own
// output instead of a second one (FlashAttention returns this layout too). Swin's windows, viewed
// [B, nW, H, S, D] by the rewrite and flattened back after, keep that property.
at::Tensor emptyAttentionOutput(std::vector<int64_t> shape, const at::TensorOptions& options);

}  // namespace lowmem::kernels
