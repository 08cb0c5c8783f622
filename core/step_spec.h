#pragma once
// What a training step looks like: inputs, trainable selection, loss, optimizer, threads, executor mode.
// Parsed from CLI flags or JSON, stored in the session; no LibTorch.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace lowmem {

struct InputSpec {
  std::string name;
  std::string dtype;  // float32, bfloat16, float16, float64, int64, int32, bool
  std::vector<int64_t> shape;
  std::optional<std::pair<int64_t, int64_t>> range;  // integers drawn from [low, high)

  std::string text() const;  // "x:float32[2,3,32,32]", "ids:int64[2,64]:0..256"
};

// "NAME:DTYPE[d0,d1,...]" with an optional ":LOW..HIGH" for integer inputs. InputError naming `flag`
// otherwise.
InputSpec parseInputSpec(const std::string& text, const std::string& flag);

struct StepSpec {
  std::vector<InputSpec> inputs;  // empty: --inputs-file, else the model's recorded input hint
  std::string inputsFile;         // torch.save'd tensor, list/tuple of tensors, or dict by argument name
  std::string trainable = "saved";
  std::string loss = "mean";      // output, mean, sum
  std::string optimizer = "sgd";  // sgd, adamw
  double lr = 1e-3;
  int warmupSteps = 1;
  int threads = 0;  // 0: every core
  bool graphExecutorOptimize = false;
  uint64_t seed = 0;
  std::string dtype;  // "": the model's own; float32, bfloat16, float16, float64 casts model and inputs
  std::string device = "cpu";  // cpu or cuda
  // "": none; bf16 or fp16: forward and loss under autocast with float32 master weights (fp16 also scales
  // the loss, as GradScaler does).
  std::string amp;
  bool recordShapes = false;  // record ATen ops' input shapes (slower tracing)

  // Checks every field; InputError naming the flag and what was expected.
  void validate() const;
  nlohmann::json toJson() const;
  static StepSpec fromJson(const nlohmann::json& j, const std::string& source);
};

}  // namespace lowmem
