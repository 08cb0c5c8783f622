#include "core/trainable.h"

#include <re2/re2.h>

#include "core/error.h"

namespace lowmem {
namespace {

// Parameter names are short; a longer pattern is a mistake (or an attack on the matcher).
constexpr size_t kMaxRegexLength = 4096;

}  // namespace

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
    if (text.size() > kMaxRegexLength) {
      throw SettingError("trainable", "a regex of " + std::to_string(text.size()) +
                                          " characters is longer than the " +
                                          std::to_string(kMaxRegexLength) + " lowmem takes");
    }
    RE2::Options options;
    options.set_log_errors(false);
    options.set_max_mem(int64_t{8} << 20);
    auto regex = std::make_shared<const RE2>(text, options);
    if (!regex->ok()) {
      throw SettingError("trainable", "'" + text + "' is not a valid regex (" + regex->error() + ")");
    }
    s.regex_ = std::move(regex);
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
      return RE2::PartialMatch(name, *regex_);
  }
  return false;
}

}  // namespace lowmem
