#include "profiler/step_inputs.h"

#include <ATen/CPUGeneratorImpl.h>

#include "core/error.h"
#include "profiler/model_inspector.h"

namespace lowmem {
c10::ScalarType scalarTypeOf(const std::string& dtype) {
  if (dtype == "float32") return at::kFloat;
  if (dtype == "bfloat16") return at::kBFloat16;
  if (dtype == "float16") return at::kHalf;
  if (dtype == "float64") return at::kDouble;
  if (dtype == "int64") return at::kLong;
  if (dtype == "int32") return at::kInt;
  return at::kBool;
}

std::vector<c10::IValue> makeInputs(const torch::jit::Module& module, const std::vector<InputSpec>& specs,
                                    uint64_t seed) {
  const auto& schema = module.get_method("forward").function().getSchema();
  const size_t expected = schema.arguments().size() - 1;  // without self
  if (specs.size() != expected) {
    throw InputError("--input", "the model's " + forwardSignature(module) + " takes " +
                                    std::to_string(expected) + " input(s), got " +
                                    std::to_string(specs.size()));
  }
  auto gen = at::detail::createCPUGenerator(seed);
  std::vector<c10::IValue> inputs;
  for (const auto& s : specs) {
    const auto type = scalarTypeOf(s.dtype);
    if (at::isFloatingType(type)) {
      inputs.emplace_back(at::randn(s.shape, gen, at::TensorOptions().dtype(at::kFloat)).to(type));
    } else {
      const auto range = s.range.value_or(std::make_pair<int64_t, int64_t>(0, 2));
      inputs.emplace_back(
          at::randint(range.first, range.second, s.shape, gen, at::TensorOptions().dtype(type)));
    }
  }
  return inputs;
}

}  // namespace lowmem
