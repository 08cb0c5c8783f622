#include "profiler/trainable_check.h"

#include <string>

#include "core/error.h"

namespace lowmem {

void checkSelectsParameters(const torch::jit::Module& module, const TrainableSelection& selection,
                            bool stepNeedsOne) {
  size_t count = 0;
  std::string example;
  for (const auto& p : module.named_parameters()) {
    if (selection.trains(p.name, p.value.requires_grad())) return;
    if (count++ == 0) example = p.name;
  }
  if (count == 0) {
    if (stepNeedsOne) throw SettingError("trainable", "the model has no parameters to train");
    return;
  }
  const std::string names = " of the model's " + std::to_string(count) + " parameters (e.g. " + example + ")";
  using Mode = TrainableSelection::Mode;
  switch (selection.mode()) {
    case Mode::kRegex:
      throw SettingError("trainable", "'" + selection.text() + "' matches none" + names +
                                          "; a pattern is searched for in each dotted name");
    case Mode::kLora:
      throw SettingError("trainable",
                         "'lora' selects none" + names + ": no name holds 'lora_'; give all or a pattern");
    case Mode::kSaved:
      if (stepNeedsOne) {
        throw SettingError(
            "trainable", "the model saves none" + names + " as requiring grad; give all, lora or a pattern");
      }
      return;
    case Mode::kNone:
      if (stepNeedsOne)
        throw SettingError("trainable",
                           "'none' trains nothing, and a fine-tuning step needs "
                           "a parameter to train");
      return;
    case Mode::kAll:
      return;
  }
}

}  // namespace lowmem
