#pragma once
// Seeded random initialisation for the bundled models: the same seed gives the same weights on every machine.

#include <ATen/ATen.h>

#include <cstdint>

namespace lowmem::models {

class Init {
 public:
  explicit Init(uint64_t seed);

  at::Tensor normal(at::IntArrayRef shape, double std);
  // Mean `mean`, spread `std`: norm affines start near (1, 0) but not at it, so folding them is really
  // exercised.
  at::Tensor around(at::IntArrayRef shape, double mean, double std);
  at::Tensor zeros(at::IntArrayRef shape);

 private:
  at::Generator gen_;
};

}  // namespace lowmem::models
