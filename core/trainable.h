#pragma once
// Which parameters train in a fine-tuning step. Decided by parameter name (and the flag saved in the model),
// so the same selection means the same thing in `info`, `profile`, `patch` and the GUI.

#include <regex>
#include <string>

namespace lowmem {

class TrainableSelection {
 public:
  enum class Mode {
    kSaved,  // the requires_grad flags stored in the model
    kAll,
    kLora,  // names containing "lora_" (PEFT's and our bundled models' convention)
    kNone,
    kRegex,  // std::regex_search over the full dotted parameter name
  };

  // "saved", "all", "lora", "none", or any other text as an ECMAScript regex. Throws InputError on a bad
  // regex.
  static TrainableSelection parse(const std::string& text);

  bool trains(const std::string& parameterName, bool savedRequiresGrad) const;
  Mode mode() const { return mode_; }
  const std::string& text() const { return text_; }

 private:
  Mode mode_ = Mode::kSaved;
  std::string text_ = "saved";
  std::regex regex_;
};

}  // namespace lowmem
