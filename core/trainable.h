#pragma once
// Which parameters train in a fine-tuning step. Decided by parameter name (and the flag saved in the model),
// so the same selection means the same thing in `info`, `profile`, `patch` and the GUI.

#include <memory>
#include <string>

namespace re2 {
class RE2;
}

namespace lowmem {

class TrainableSelection {
 public:
  enum class Mode {
    kSaved,  // the requires_grad flags stored in the model
    kAll,
    kLora,  // names containing "lora_" (PEFT's and our bundled models' convention)
    kNone,
    kRegex,  // RE2 partial match (a search) over the full dotted parameter name
  };

  // "saved", "all", "lora", "none", or any other text as a regex (RE2 syntax: linear-time matching, no
  // backreferences). SettingError("trainable") for a bad, too large or too deeply nested one.
  static TrainableSelection parse(const std::string& text);

  bool trains(const std::string& parameterName, bool savedRequiresGrad) const;
  Mode mode() const { return mode_; }
  const std::string& text() const { return text_; }

 private:
  Mode mode_ = Mode::kSaved;
  std::string text_ = "saved";
  std::shared_ptr<const re2::RE2> regex_;  // shared: RE2 is immutable and not copyable
};

}  // namespace lowmem
