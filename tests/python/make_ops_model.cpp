// Saves a TorchScript model whose forward calls every lowmem op, compiled in C++ through the ops resolver,
// for the Python test to torch.jit.load. Usage: make_ops_model OUT.pt

#include <torch/script.h>

#include <iostream>

#include "kernels/ops_library.h"
#include "kernels/script_resolver.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_ops_model OUT.pt\n";
    return 2;
  }
  lowmem::kernels::ensureOpsRegistered();
  torch::jit::Module m("OpsModel");
  m.register_parameter("w", torch::randn({16, 16}) * 0.25, false);
  m.define(R"(
def forward(self, x):
    h = ops.lowmem.ms_layer_norm(x, [16], 1e-05)
    h = ops.lowmem.regelu2(torch.matmul(h, self.w))
    h = ops.lowmem.ms_rms_norm(h, [16], 1e-06)
    h = ops.lowmem.resilu2(h) + ops.lowmem.regelu(h, 3) + ops.lowmem.resilu(h, 4)
    return h
)",
           lowmem::kernels::opsResolver());
  m.save(argv[1]);
  std::cout << "wrote " << argv[1] << "\n";
  return 0;
}
