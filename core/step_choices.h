#pragma once
// The closed choices of a training step (loss, optimizer, dtype, device, mixed precision) as enums, each with
// one table of names: the CLI's help and checks, the GUI's combo boxes, the JSON of a session and every error
// read the same table, so a new choice is added in one place.

#include <string>
#include <vector>

namespace lowmem {

// kCrossEntropy: the output's last dimension is classes, against a seeded synthetic target.
enum class LossKind { kOutput, kMean, kSum, kCrossEntropy };
enum class OptimizerKind { kSgd, kAdamW };
enum class Dtype { kFloat32, kBFloat16, kFloat16, kFloat64, kInt64, kInt32, kBool };
enum class DeviceKind { kCpu, kCuda };
// Forward and loss under autocast in this precision, float32 master weights (fp16 also scales the loss).
enum class AmpKind { kBf16, kFp16 };

template <typename E>
struct Choice {
  E value;
  const char* name;
};

// Every choice of E, in the order help texts and combo boxes list them.
template <typename E>
const std::vector<Choice<E>>& choicesOf();

template <typename E>
std::string nameOf(E value);

// The choice `text` names; SettingError(setting, "'TEXT' is not one of A, B, C") otherwise.
template <typename E>
E choiceFrom(const std::string& text, const std::string& setting);

// "A, B or C", for help texts.
template <typename E>
std::string choiceList();

template <typename E>
std::vector<std::string> choiceNames();

bool isFloating(Dtype dtype);
// The floating dtypes a model may be cast to, "float32, bfloat16, float16 or float64".
std::string floatingDtypeList();

}  // namespace lowmem
