#pragma once
// The lowmem op library (liblowmem_ops.so): TORCH_LIBRARY(lowmem, ...) registers
//   regelu2(x), resilu2(x), regelu(x, bits), resilu(x, bits)             ReGELU-k / ReSiLU-k with autograd
//   ms_layer_norm(x, normalized_shape, eps), ms_rms_norm(x, ...)          MS-LN / MS-RMSNorm with autograd
//   activation_forward/backward, activation_codes, norm_forward/backward  the raw kernels (no autograd)
//   attention(q, k, v, attn_mask, scale, is_causal, dropout_p)            attention keeping no probabilities
//   attention_forward/backward                                           its raw kernels (no autograd)
//   attention_dropout_as_aten(enabled)                                   draw its dropout as aten::dropout
//   pack(codes, bits), unpack(packed, n, bits), pack2, unpack2            the bit layout, for tests and tools

namespace lowmem::kernels {

// Registration happens when the library loads. Calling this from a program that links the library keeps the
// linker (--as-needed) from dropping it.
void ensureOpsRegistered();

}  // namespace lowmem::kernels
