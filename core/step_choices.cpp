#include "core/step_choices.h"

#include "core/error.h"

namespace lowmem {
namespace {

// "a, b or c".
std::string alternatives(const std::vector<std::string>& names) {
  std::string list;
  for (size_t i = 0; i < names.size(); ++i)
    list += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return list;
}

}  // namespace

template <>
const std::vector<Choice<LossKind>>& choicesOf() {
  static const std::vector<Choice<LossKind>> table = {{LossKind::kMean, "mean"},
                                                      {LossKind::kSum, "sum"},
                                                      {LossKind::kOutput, "output"},
                                                      {LossKind::kCrossEntropy, "cross-entropy"}};
  return table;
}

template <>
const std::vector<Choice<OptimizerKind>>& choicesOf() {
  static const std::vector<Choice<OptimizerKind>> table = {{OptimizerKind::kSgd, "sgd"},
                                                           {OptimizerKind::kAdamW, "adamw"}};
  return table;
}

template <>
const std::vector<Choice<Dtype>>& choicesOf() {
  static const std::vector<Choice<Dtype>> table = {
      {Dtype::kFloat32, "float32"}, {Dtype::kBFloat16, "bfloat16"}, {Dtype::kFloat16, "float16"},
      {Dtype::kFloat64, "float64"}, {Dtype::kInt64, "int64"},       {Dtype::kInt32, "int32"},
      {Dtype::kBool, "bool"}};
  return table;
}

template <>
const std::vector<Choice<DeviceKind>>& choicesOf() {
  static const std::vector<Choice<DeviceKind>> table = {{DeviceKind::kCpu, "cpu"},
                                                        {DeviceKind::kCuda, "cuda"}};
  return table;
}

template <>
const std::vector<Choice<AmpKind>>& choicesOf() {
  static const std::vector<Choice<AmpKind>> table = {{AmpKind::kBf16, "bf16"}, {AmpKind::kFp16, "fp16"}};
  return table;
}

template <typename E>
std::string nameOf(E value) {
  for (const auto& c : choicesOf<E>()) {
    if (c.value == value) return c.name;
  }
  return "?";  // unreachable: every enumerator is in its table (tests/core/step_choices_test.cpp)
}

template <typename E>
std::vector<std::string> choiceNames() {
  std::vector<std::string> names;
  for (const auto& c : choicesOf<E>())
    names.emplace_back(c.name);
  return names;
}

template <typename E>
std::string choiceList() {
  return alternatives(choiceNames<E>());
}

template <typename E>
E choiceFrom(const std::string& text, const std::string& setting) {
  for (const auto& c : choicesOf<E>()) {
    if (text == c.name) return c.value;
  }
  std::string list;
  for (const auto& name : choiceNames<E>())
    list += (list.empty() ? "" : ", ") + name;
  throw SettingError(setting, "'" + text + "' is not one of " + list);
}

bool isFloating(Dtype dtype) {
  return dtype == Dtype::kFloat32 || dtype == Dtype::kBFloat16 || dtype == Dtype::kFloat16 ||
         dtype == Dtype::kFloat64;
}

std::string floatingDtypeList() {
  std::vector<std::string> names;
  for (const auto& c : choicesOf<Dtype>()) {
    if (isFloating(c.value)) names.emplace_back(c.name);
  }
  return alternatives(names);
}

#define LOWMEM_CHOICE(E)                              \
  template std::string nameOf<E>(E);                  \
  template std::vector<std::string> choiceNames<E>(); \
  template std::string choiceList<E>();               \
  template E choiceFrom<E>(const std::string&, const std::string&);
LOWMEM_CHOICE(LossKind)
LOWMEM_CHOICE(OptimizerKind)
LOWMEM_CHOICE(Dtype)
LOWMEM_CHOICE(DeviceKind)
LOWMEM_CHOICE(AmpKind)
#undef LOWMEM_CHOICE

}  // namespace lowmem
