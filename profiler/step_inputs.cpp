#include "profiler/step_inputs.h"

#include <ATen/CPUGeneratorImpl.h>

#include "core/error.h"
#include "profiler/model_inspector.h"
#include "profiler/scalar_type.h"

namespace lowmem {
namespace {

at::Tensor draw(const InputSpec& s, at::Generator& gen) {
  const auto type = scalarTypeOf(s.dtype);
  if (at::isFloatingType(type))
    return at::randn(s.shape, gen, at::TensorOptions().dtype(at::kFloat)).to(type);
  const auto range = s.range.value_or(std::make_pair<int64_t, int64_t>(0, 2));
  return at::randint(range.first, range.second, s.shape, gen, at::TensorOptions().dtype(type));
}

}  // namespace

std::vector<c10::IValue> makeInputs(const torch::jit::Module& module, const std::vector<InputSpec>& specs,
                                    uint64_t seed) {
  const auto& args = module.get_method("forward").function().getSchema().arguments();
  const size_t expected = args.size() - 1;  // without self
  if (specs.size() != expected) {
    throw SettingError("inputs", "the model's " + forwardSignature(module) + " takes " +
                                     std::to_string(expected) + " input(s), got " +
                                     std::to_string(specs.size()));
  }
  // Bound by name, as a call forward(x=..., mask=...) would be: a spec for no argument is a mistake, not the
  // next position.
  std::vector<const InputSpec*> byArgument(expected, nullptr);
  for (const auto& s : specs) {
    size_t k = 1;
    while (k < args.size() && args[k].name() != s.name)
      ++k;
    if (k == args.size())
      throw SettingError("inputs",
                         "the model's " + forwardSignature(module) + " has no argument '" + s.name + "'");
    byArgument[k - 1] = &s;
  }
  // Drawn in the order given (the seed's stream), placed in the order forward takes them.
  auto gen = at::detail::createCPUGenerator(seed);
  std::vector<c10::IValue> inputs(expected);
  for (const auto& s : specs) {
    for (size_t k = 0; k < expected; ++k) {
      if (byArgument[k] == &s) inputs[k] = draw(s, gen);
    }
  }
  return inputs;
}

}  // namespace lowmem
