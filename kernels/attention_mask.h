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

}  // namespace lowmem::kernels
