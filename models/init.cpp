#include "models/init.h"

#include <ATen/CPUGeneratorImpl.h>

namespace lowmem::models {

Init::Init(uint64_t seed) : gen_(at::detail::createCPUGenerator(seed)) {}

at::Tensor Init::normal(at::IntArrayRef shape, double std) {
  return at::normal(0.0, std, shape, gen_, at::TensorOptions().dtype(at::kFloat));
}

at::Tensor Init::around(at::IntArrayRef shape, double mean, double std) {
  return at::normal(mean, std, shape, gen_, at::TensorOptions().dtype(at::kFloat));
}

at::Tensor Init::zeros(at::IntArrayRef shape) {
  return at::zeros(shape, at::kFloat);
}

}  // namespace lowmem::models
