#pragma once
// TorchScript source compiled in C++ cannot say torch.ops.lowmem.regelu2: the native resolver knows only
// torch.*. This resolver adds `ops.<namespace>.<op>`; saved code then prints `ops.lowmem.regelu2(x)`, which
// torch::jit::load and Python's torch.jit.load resolve once the op library is loaded.

#include <torch/csrc/jit/frontend/resolver.h>

#include <memory>

namespace lowmem::kernels {

std::shared_ptr<torch::jit::Resolver> opsResolver();

}  // namespace lowmem::kernels
