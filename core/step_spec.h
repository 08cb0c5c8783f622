#pragma once
// What a training step looks like: inputs, trainable selection, loss, optimizer, threads, executor mode.
// Parsed from CLI flags or JSON, stored in the session; no LibTorch.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/step_choices.h"
#include "core/trainable.h"

namespace lowmem {

struct InputSpec {
  std::string name;
  Dtype dtype = Dtype::kFloat32;
  std::vector<int64_t> shape;
  std::optional<std::pair<int64_t, int64_t>> range;  // integers drawn from [low, high)

  std::string text() const;  // "x:float32[2,3,32,32]", "ids:int64[2,64]:0..256"
};

// "NAME:DTYPE[d0,d1,...]" with an optional ":LOW..HIGH" for integer inputs. SettingError naming `setting`
// otherwise.
InputSpec parseInputSpec(const std::string& text, const std::string& setting = "inputs");

struct StepSpec {
  std::vector<InputSpec> inputs;  // empty: --inputs-file, else the model's recorded input hint
  std::string inputsFile;         // torch.save'd tensor, list/tuple of tensors, or dict by argument name
  TrainableSelection trainable;  // parsed where its text is read, so a bad regex stops before any model loads
  LossKind loss = LossKind::kMean;
  OptimizerKind optimizer = OptimizerKind::kSgd;
  double lr = 1e-3;
  int warmupSteps = 1;
  int threads = 0;  // 0: every core
  bool graphExecutorOptimize = false;
  uint64_t seed = 0;
  std::optional<Dtype> dtype;  // none: the model's own; a floating dtype casts the model and floating inputs
  DeviceKind device = DeviceKind::kCpu;
  std::optional<AmpKind> amp;  // none: full precision
  bool recordShapes = false;   // record ATen ops' input shapes and returned tensors (slower)

  // Checks what the types leave open (ranges, combinations); SettingError naming the field by its JSON key.
  void validate() const;
  nlohmann::json toJson() const;
  // The spec a JSON object describes, validated; InputError naming `source` (and the field) otherwise.
  static StepSpec fromJson(const nlohmann::json& j, const std::string& source);
};

}  // namespace lowmem
