#include "core/step_spec.h"

#include <algorithm>
#include <regex>

#include "core/error.h"

namespace lowmem {
namespace {

const std::vector<std::string> kDtypes = {"float32", "bfloat16", "float16", "float64",
                                          "int64",   "int32",    "bool"};

bool isInteger(const std::string& dtype) {
  return dtype == "int64" || dtype == "int32" || dtype == "bool";
}

template <typename T>
void expectOneOf(const std::string& value, const std::vector<T>& allowed, const std::string& flag) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return;
  std::string list;
  for (const auto& a : allowed)
    list += (list.empty() ? "" : ", ") + std::string(a);
  throw InputError(flag, "'" + value + "' is not one of " + list);
}

}  // namespace

std::string InputSpec::text() const {
  std::string s = name + ":" + dtype + "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? "," : "") + std::to_string(shape[i]);
  s += "]";
  if (range) s += ":" + std::to_string(range->first) + ".." + std::to_string(range->second);
  return s;
}

InputSpec parseInputSpec(const std::string& text, const std::string& flag) {
  static const std::regex re(
      R"(^([A-Za-z_][A-Za-z0-9_]*):([a-z0-9]+)\[([0-9, ]*)\](?::(-?[0-9]+)\.\.(-?[0-9]+))?$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) {
    throw InputError(flag, "'" + text +
                               "' is not NAME:DTYPE[d0,d1,...] (e.g. x:float32[2,3,224,224] or "
                               "input_ids:int64[2,128]:0..32000)");
  }
  InputSpec s;
  s.name = m[1];
  s.dtype = m[2];
  expectOneOf(s.dtype, kDtypes, flag + " " + s.name);
  std::string dims = m[3];
  dims.erase(std::remove(dims.begin(), dims.end(), ' '), dims.end());
  size_t start = 0;
  while (start < dims.size()) {
    const size_t comma = dims.find(',', start);
    const std::string d = dims.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (d.empty()) throw InputError(flag, "'" + text + "' has an empty dimension");
    const long long v = std::stoll(d);
    if (v <= 0 || v > (1LL << 40))
      throw InputError(flag, "'" + text + "' has dimension " + d + " (expected 1 or more)");
    s.shape.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (m[4].matched) {
    if (!isInteger(s.dtype))
      throw InputError(flag, "'" + text + "': a LOW..HIGH range needs an integer dtype");
    s.range = std::make_pair(std::stoll(m[4]), std::stoll(m[5]));
    if (s.range->first >= s.range->second) throw InputError(flag, "'" + text + "': empty range");
  }
  return s;
}

void StepSpec::validate() const {
  expectOneOf(loss, std::vector<std::string>{"output", "mean", "sum", "cross-entropy"}, "--loss");
  expectOneOf(optimizer, std::vector<std::string>{"sgd", "adamw"}, "--optimizer");
  if (!(lr > 0)) throw InputError("--lr", "must be positive");
  if (warmupSteps < 0 || warmupSteps > 100) throw InputError("--warmup", "expected 0 to 100 steps");
  if (threads < 0 || threads > 4096) throw InputError("--threads", "expected 0 (every core) to 4096");
  if (!dtype.empty())
    expectOneOf(dtype, std::vector<std::string>{"float32", "bfloat16", "float16", "float64"}, "--dtype");
  expectOneOf(device, std::vector<std::string>{"cpu", "cuda"}, "--device");
  if (!amp.empty()) {
    expectOneOf(amp, std::vector<std::string>{"bf16", "fp16"}, "--amp");
    if (!dtype.empty() && dtype != "float32") {
      throw InputError("--amp",
                       "autocast keeps float32 master weights: give --dtype float32 or none, not " + dtype);
    }
  }
  if (!inputs.empty() && !inputsFile.empty())
    throw InputError("--inputs-file", "give either --input specs or an inputs file, not both");
  std::vector<std::string> names;
  for (const auto& in : inputs) {
    if (std::find(names.begin(), names.end(), in.name) != names.end()) {
      throw InputError("--input", "input '" + in.name + "' given twice");
    }
    names.push_back(in.name);
  }
}

nlohmann::json StepSpec::toJson() const {
  nlohmann::json in = nlohmann::json::array();
  for (const auto& i : inputs)
    in.push_back(i.text());
  return {{"inputs", in},       {"trainable", trainable},
          {"loss", loss},       {"optimizer", optimizer},
          {"lr", lr},           {"warmup_steps", warmupSteps},
          {"threads", threads}, {"graph_executor_optimize", graphExecutorOptimize},
          {"seed", seed},       {"inputs_file", inputsFile},
          {"dtype", dtype},     {"device", device},
          {"amp", amp},         {"record_shapes", recordShapes}};
}

StepSpec StepSpec::fromJson(const nlohmann::json& j, const std::string& source) {
  StepSpec s;
  if (!j.is_object()) throw InputError(source, "invalid step spec (expected a JSON object)");
  const auto known = s.toJson();
  for (const auto& [key, value] : j.items()) {
    if (!known.contains(key)) {
      std::string names;
      for (const auto& [k, v] : known.items())
        names += (names.empty() ? "" : ", ") + k;
      throw InputError(source, "unknown step spec key '" + key + "' (known: " + names + ")");
    }
  }
  try {
    for (const auto& i : j.value("inputs", nlohmann::json::array()))
      s.inputs.push_back(parseInputSpec(i.get<std::string>(), source));
    s.trainable = j.value("trainable", s.trainable);
    s.loss = j.value("loss", s.loss);
    s.optimizer = j.value("optimizer", s.optimizer);
    s.lr = j.value("lr", s.lr);
    s.warmupSteps = j.value("warmup_steps", s.warmupSteps);
    s.threads = j.value("threads", s.threads);
    s.graphExecutorOptimize = j.value("graph_executor_optimize", s.graphExecutorOptimize);
    s.seed = j.value("seed", s.seed);
    s.inputsFile = j.value("inputs_file", s.inputsFile);
    s.dtype = j.value("dtype", s.dtype);
    s.device = j.value("device", s.device);
    s.amp = j.value("amp", s.amp);
    s.recordShapes = j.value("record_shapes", s.recordShapes);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source, std::string("invalid step spec (") + e.what() + ")");
  }
  s.validate();
  return s;
}

}  // namespace lowmem
