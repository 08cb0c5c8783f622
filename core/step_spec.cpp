#include "core/step_spec.h"

#include <algorithm>
#include <regex>

#include "core/error.h"

namespace lowmem {

std::string InputSpec::text() const {
  std::string s = name + ":" + nameOf(dtype) + "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "," : "") + std::to_string(shape[i]);
  s += "]";
  if (range) s += ":" + std::to_string(range->first) + ".." + std::to_string(range->second);
  return s;
}

namespace {

// Digits as a number, SettingError when they do not fit (std::stoll would throw a bare "stoll").
int64_t integerIn(const std::string& digits, const std::string& text, const std::string& setting) {
  try {
    return std::stoll(digits);
  } catch (const std::exception&) {
    throw SettingError(setting, "'" + text + "' has a number too large: " + digits);
  }
}

}  // namespace

InputSpec parseInputSpec(const std::string& text, const std::string& setting) {
  static const std::regex re(
      R"(^([A-Za-z_][A-Za-z0-9_]*):([a-z0-9]+)\[([0-9, ]*)\](?::(-?[0-9]+)\.\.(-?[0-9]+))?$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) {
    throw SettingError(setting, "'" + text +
                                    "' is not NAME:DTYPE[d0,d1,...] (e.g. x:float32[2,3,224,224] or "
                                    "input_ids:int64[2,128]:0..32000)");
  }
  InputSpec s;
  s.name = m[1];
  try {
    s.dtype = choiceFrom<Dtype>(m[2], setting);
  } catch (const SettingError& e) {
    throw SettingError(setting, "input " + s.name + ": " + e.problem());
  }
  std::string dims = m[3];
  dims.erase(std::remove(dims.begin(), dims.end(), ' '), dims.end());
  size_t start = 0;
  while (start < dims.size()) {
    const size_t comma = dims.find(',', start);
    const std::string d = dims.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (d.empty()) throw SettingError(setting, "'" + text + "' has an empty dimension");
    const long long v = integerIn(d, text, setting);
    if (v <= 0 || v > (1LL << 40))
      throw SettingError(setting, "'" + text + "' has dimension " + d + " (expected 1 or more)");
    s.shape.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (m[4].matched) {
    if (isFloating(s.dtype))
      throw SettingError(setting, "'" + text + "': a LOW..HIGH range needs an integer dtype");
    s.range = std::make_pair(integerIn(m[4], text, setting), integerIn(m[5], text, setting));
    if (s.range->first >= s.range->second) throw SettingError(setting, "'" + text + "': empty range");
  }
  return s;
}

void StepSpec::validate() const {
  if (!(lr > 0)) throw SettingError("lr", "must be positive");
  if (warmupSteps < 0 || warmupSteps > 100) throw SettingError("warmup_steps", "expected 0 to 100 steps");
  if (threads < 0 || threads > 4096) throw SettingError("threads", "expected 0 (every core) to 4096");
  if (dtype && !isFloating(*dtype))
    throw SettingError(
        "dtype", "'" + nameOf(*dtype) + "' is not a floating dtype (expected " + floatingDtypeList() + ")");
  if (amp && dtype && *dtype != Dtype::kFloat32) {
    throw SettingError(
        "amp",
        "autocast keeps float32 master weights: leave the dtype unset or float32, not " + nameOf(*dtype));
  }
  if (!inputs.empty() && !inputsFile.empty())
    throw SettingError("inputs_file", "give either input specs or an inputs file, not both");
  std::vector<std::string> names;
  for (const auto& in : inputs) {
    if (std::find(names.begin(), names.end(), in.name) != names.end())
      throw SettingError("inputs", "input '" + in.name + "' given twice");
    names.push_back(in.name);
  }
}

nlohmann::json StepSpec::toJson() const {
  nlohmann::json in = nlohmann::json::array();
  for (const auto& i : inputs)
    in.push_back(i.text());
  return {{"inputs", in},
          {"trainable", trainable.text()},
          {"loss", nameOf(loss)},
          {"optimizer", nameOf(optimizer)},
          {"lr", lr},
          {"warmup_steps", warmupSteps},
          {"threads", threads},
          {"graph_executor_optimize", graphExecutorOptimize},
          {"seed", seed},
          {"inputs_file", inputsFile},
          {"dtype", dtype ? nameOf(*dtype) : ""},
          {"device", nameOf(device)},
          {"amp", amp ? nameOf(*amp) : ""},
          {"record_shapes", recordShapes}};
}

namespace {

void checkKeys(const nlohmann::json& j, const nlohmann::json& known, const std::string& source) {
  if (!j.is_object()) throw InputError(source, "invalid step spec (expected a JSON object)");
  for (const auto& [key, value] : j.items()) {
    if (known.contains(key)) continue;
    std::string names;
    for (const auto& [k, v] : known.items())
      names += (names.empty() ? "" : ", ") + k;
    throw InputError(source, "unknown step spec key '" + key + "' (known: " + names + ")");
  }
}

// A choice's JSON value: its name, or "" for none where the choice is optional.
template <typename E>
std::optional<E> optionalChoice(const nlohmann::json& j, const char* key) {
  const auto text = j.value(key, std::string());
  if (text.empty()) return std::nullopt;
  return choiceFrom<E>(text, key);
}

// An integer field: a JSON integer in [low, high], not a float silently truncated or a negative wrapped.
template <typename T>
T integerField(const nlohmann::json& j, const char* key, T fallback, int64_t low, int64_t high) {
  if (!j.contains(key)) return fallback;
  const auto& v = j.at(key);
  if (!v.is_number_integer()) throw SettingError(key, "expected an integer, got " + v.dump());
  if (v.is_number_unsigned() ? v.get<uint64_t>() > static_cast<uint64_t>(high)
                             : (v.get<int64_t>() < low || v.get<int64_t>() > high)) {
    throw SettingError(
        key, "expected " + std::to_string(low) + " to " + std::to_string(high) + ", got " + v.dump());
  }
  return static_cast<T>(v.get<int64_t>());
}

void readFields(const nlohmann::json& j, StepSpec& s) {
  for (const auto& i : j.value("inputs", nlohmann::json::array()))
    s.inputs.push_back(parseInputSpec(i.get<std::string>(), "inputs"));
  s.trainable = TrainableSelection::parse(j.value("trainable", s.trainable.text()));
  s.loss = choiceFrom<LossKind>(j.value("loss", nameOf(s.loss)), "loss");
  s.optimizer = choiceFrom<OptimizerKind>(j.value("optimizer", nameOf(s.optimizer)), "optimizer");
  s.lr = j.value("lr", s.lr);
  s.warmupSteps = integerField(j, "warmup_steps", s.warmupSteps, 0, 100);
  s.threads = integerField(j, "threads", s.threads, 0, 4096);
  s.graphExecutorOptimize = j.value("graph_executor_optimize", s.graphExecutorOptimize);
  s.seed = integerField(j, "seed", s.seed, 0, int64_t{1} << 62);
  s.inputsFile = j.value("inputs_file", s.inputsFile);
  s.dtype = optionalChoice<Dtype>(j, "dtype");
  s.device = choiceFrom<DeviceKind>(j.value("device", nameOf(s.device)), "device");
  s.amp = optionalChoice<AmpKind>(j, "amp");
  s.recordShapes = j.value("record_shapes", s.recordShapes);
}

}  // namespace

StepSpec StepSpec::fromJson(const nlohmann::json& j, const std::string& source) {
  StepSpec s;
  checkKeys(j, s.toJson(), source);
  try {
    readFields(j, s);
    s.validate();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source, std::string("invalid step spec (") + e.what() + ")");
  } catch (const SettingError& e) {
    // Named by the file, not by a flag the user did not type.
    throw InputError(source, e.setting() + ": " + e.problem());
  }
  return s;
}

}  // namespace lowmem
