#include "core/trainable.h"

#include "core/error.h"

namespace lowmem {

TrainableSelection TrainableSelection::parse(const std::string& text) {
  TrainableSelection s;
  s.text_ = text;
  if (text == "saved") {
    s.mode_ = Mode::kSaved;
  } else if (text == "all") {
    s.mode_ = Mode::kAll;
  } else if (text == "lora") {
    s.mode_ = Mode::kLora;
  } else if (text == "none") {
    s.mode_ = Mode::kNone;
  } else if (text.empty()) {
    throw SettingError("trainable", "empty selection (expected saved, all, lora, none or a regex)");
  } else {
    s.mode_ = Mode::kRegex;
    try {
      s.regex_ = std::regex(text, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw SettingError("trainable", "'" + text + "' is not a valid regex (" + e.what() + ")");
    }
  }
  return s;
}

bool TrainableSelection::trains(const std::string& name, bool savedRequiresGrad) const {
  switch (mode_) {
    case Mode::kSaved:
      return savedRequiresGrad;
    case Mode::kAll:
      return true;
    case Mode::kLora:
      return name.find("lora_") != std::string::npos;
    case Mode::kNone:
      return false;
    case Mode::kRegex:
      return std::regex_search(name, regex_);
  }
  return false;
}

}  // namespace lowmem
