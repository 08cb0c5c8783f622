// The k-bit code layout as ops (CPU): tests check the kernels' saved buffer bit by bit against these, and
// tools can decode a saved buffer. Element i's code sits at bit i*bits of a little-endian bit stream.

#include <torch/library.h>

#include "kernels/ops_common.h"

namespace lowmem::kernels {
namespace {

void checkBits(int64_t bits, const char* op) {
  TORCH_CHECK(bits >= 1 && bits <= 8, op, ": bits must be between 1 and 8, got ", bits);
}

at::Tensor pack(const at::Tensor& codes, int64_t bits) {
  checkBits(bits, "lowmem::pack");
  TORCH_CHECK(codes.scalar_type() == at::kByte, "lowmem::pack: codes must be uint8, got ",
              codes.scalar_type());
  const auto c = codes.contiguous().view(-1);
  const int64_t n = c.numel();
  auto out = at::zeros({packedBytes(n, static_cast<int>(bits))}, c.options());
  const uint8_t* in = c.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  const unsigned limit = 1u << bits;
  for (int64_t i = 0; i < n; ++i) {
    TORCH_CHECK(in[i] < limit, "lowmem::pack: code ", static_cast<int>(in[i]), " at ", i, " does not fit in ",
                bits, " bits");
    for (int64_t b = 0; b < bits; ++b) {
      const int64_t bit = i * bits + b;
      o[bit >> 3] |= static_cast<uint8_t>(((in[i] >> b) & 1u) << (bit & 7));
    }
  }
  return out;
}

at::Tensor unpack(const at::Tensor& packed, int64_t n, int64_t bits) {
  checkBits(bits, "lowmem::unpack");
  TORCH_CHECK(packed.scalar_type() == at::kByte, "lowmem::unpack: packed must be uint8");
  TORCH_CHECK(n >= 0 && packed.numel() >= packedBytes(n, static_cast<int>(bits)),
              "lowmem::unpack: ", packed.numel(), " bytes cannot hold ", n, " codes of ", bits, " bits");
  const auto p = packed.contiguous();
  auto out = at::empty({n}, p.options());
  const uint8_t* in = p.data_ptr<uint8_t>();
  uint8_t* o = out.data_ptr<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    unsigned code = 0;
    for (int64_t b = 0; b < bits; ++b) {
      const int64_t bit = i * bits + b;
      code |= ((in[bit >> 3] >> (bit & 7)) & 1u) << b;
    }
    o[i] = static_cast<uint8_t>(code);
  }
  return out;
}

at::Tensor pack2(const at::Tensor& codes) {
  return pack(codes, 2);
}
at::Tensor unpack2(const at::Tensor& packed, int64_t n) {
  return unpack(packed, n, 2);
}

}  // namespace

TORCH_LIBRARY_IMPL(lowmem, CPU, m) {
  m.impl("pack", pack);
  m.impl("unpack", unpack);
  m.impl("pack2", pack2);
  m.impl("unpack2", unpack2);
}

}  // namespace lowmem::kernels
