#include "core/trace.h"

#include <set>

namespace lowmem {

const char* phaseName(Phase phase) {
  switch (phase) {
    case Phase::kBefore:
      return "before";
    case Phase::kForward:
      return "forward";
    case Phase::kLoss:
      return "loss";
    case Phase::kBackward:
      return "backward";
    case Phase::kOptimizer:
      return "optimizer";
    case Phase::kAfter:
      return "after";
  }
  return "?";
}

const char* opScopeName(OpScope scope) {
  switch (scope) {
    case OpScope::kFunction:
      return "function";
    case OpScope::kBackward:
      return "backward";
    case OpScope::kTorchScript:
      return "torchscript";
    case OpScope::kOther:
      return "other";
  }
  return "?";
}

const char* knownRoleName(KnownRole role) {
  switch (role) {
    case KnownRole::kParameter:
      return "parameter";
    case KnownRole::kGradient:
      return "gradient";
    case KnownRole::kOptimizerState:
      return "optimizer state";
    case KnownRole::kInput:
      return "input";
    case KnownRole::kBuffer:
      return "buffer";
    case KnownRole::kOutput:
      return "output";
  }
  return "?";
}

const char* deviceActivityKindName(DeviceActivity::Kind kind) {
  switch (kind) {
    case DeviceActivity::Kind::kKernel:
      return "kernel";
    case DeviceActivity::Kind::kMemcpy:
      return "memcpy";
    case DeviceActivity::Kind::kMemset:
      return "memset";
    case DeviceActivity::Kind::kRuntime:
      return "runtime";
    case DeviceActivity::Kind::kMemory:
      return "memory";
  }
  return "?";
}

std::optional<std::vector<int64_t>> firstShape(const std::string& shapes) {
  if (shapes.size() < 2 || shapes[0] != '[') return std::nullopt;
  std::vector<int64_t> dims;
  bool digits = false;
  for (size_t i = 1; i < shapes.size() && shapes[i] != ']'; ++i) {
    if (shapes[i] == ',') {
      digits = false;
    } else if (shapes[i] >= '0' && shapes[i] <= '9') {
      if (!digits) dims.push_back(0);
      dims.back() = dims.back() * 10 + (shapes[i] - '0');
      digits = true;
    } else {
      return std::nullopt;
    }
  }
  return dims;
}

std::optional<std::vector<int64_t>> shapeArgument(const std::string& shapes, size_t n) {
  size_t at = 0;
  for (size_t seen = 0;; ++seen, ++at) {
    at = shapes.find('[', at);
    if (at == std::string::npos) return std::nullopt;
    if (seen == n) return firstShape(shapes.substr(at));
    at = shapes.find(']', at);
    if (at == std::string::npos) return std::nullopt;
  }
}

int64_t dtypeElementBytes(const std::string& dtype) {
  if (dtype == "float64" || dtype == "int64" || dtype == "complex64") return 8;
  if (dtype == "float32" || dtype == "int32") return 4;
  if (dtype == "float16" || dtype == "bfloat16" || dtype == "int16") return 2;
  if (dtype == "bool" || dtype == "uint8" || dtype == "int8") return 1;
  return 0;
}

bool isAllocationHelper(const std::string& opName) {
  static const std::set<std::string> kHelpers = {
      "aten::empty",     "aten::empty_strided",     "aten::empty_like",
      "aten::new_empty", "aten::new_empty_strided", "aten::resize_"};
  return kHelpers.count(opName) != 0;
}

const std::string& Trace::moduleType(const std::string& path) const {
  static const std::string kNone;
  const auto it = moduleTypes.find(path);
  return it == moduleTypes.end() ? kNone : it->second;
}

StringInterner::StringInterner(std::vector<std::string>& table) : table_(table) {
  for (size_t i = 0; i < table_.size(); ++i) {
    keys_.emplace_back(table_[i]);
    index_.emplace(keys_.back(), static_cast<StringId>(i));
  }
}

StringId StringInterner::intern(std::string_view text) {
  if (auto it = index_.find(text); it != index_.end()) return it->second;
  const auto id = static_cast<StringId>(table_.size());
  table_.emplace_back(text);
  keys_.emplace_back(text);
  index_.emplace(keys_.back(), id);
  return id;
}

}  // namespace lowmem
