#include "profiler/step_inputs.h"

#include <ATen/CPUGeneratorImpl.h>

#include "core/error.h"
#include "profiler/model_inspector.h"
#include "profiler/scalar_type.h"

namespace lowmem {
std::vector<c10::IValue> makeInputs(const torch::jit::Module& module, const std::vector<InputSpec>& specs,
                                    uint64_t seed) {
  const auto& schema = module.get_method("forward").function().getSchema();
  const size_t expected = schema.arguments().size() - 1;  // without self
  if (specs.size() != expected) {
    throw SettingError("inputs", "the model's " + forwardSignature(module) + " takes " +
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
