#include "profiler/step_setup.h"

#include <ATen/Context.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/version.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "core/error.h"
#include "core/model_attributes.h"
#include "profiler/model_inspector.h"
#include "profiler/scalar_type.h"
#include "profiler/step_inputs.h"

namespace lowmem {
namespace {

// A torch.save'd file: one tensor, a list/tuple of tensors (positional), or a dict by argument name.
std::vector<c10::IValue> loadInputsFile(const torch::jit::Module& module, const std::string& path) {
  const c10::IValue value = readTorchSave(path, "inputs file");
  const auto& args = module.get_method("forward").function().getSchema().arguments();
  const size_t expected = args.size() - 1;
  std::vector<c10::IValue> inputs;
  if (value.isTensor()) {
    inputs.push_back(value);
  } else if (value.isTuple() || value.isList()) {
    const auto elements = value.isTuple() ? value.toTupleRef().elements().vec() : value.toListRef().vec();
    inputs.assign(elements.begin(), elements.end());
  } else if (value.isGenericDict()) {
    const auto dict = value.toGenericDict();
    for (size_t i = 1; i < args.size(); ++i) {
      const auto it = dict.find(args[i].name());
      if (it == dict.end()) {
        throw InputError(path,
                         "has no entry '" + args[i].name() + "' for the model's " + forwardSignature(module));
      }
      inputs.push_back(it->value());
    }
    if (dict.size() != expected)
      throw InputError(path, "has entries the model's " + forwardSignature(module) + " does not take");
  } else {
    throw InputError(path,
                     "holds a " + value.tagKind() + "; expected a tensor, a list/tuple or a dict of tensors");
  }
  if (inputs.size() != expected) {
    throw InputError(path, "holds " + std::to_string(inputs.size()) + " input(s); the model's " +
                               forwardSignature(module) + " takes " + std::to_string(expected));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].isTensor())
      throw InputError(path,
                       "input " + std::to_string(i) + " is a " + inputs[i].tagKind() + ", not a tensor");
    // An empty batch runs without error and records a step with no activations: a profile of nothing.
    const at::Tensor& t = inputs[i].toTensor();
    if (t.numel() == 0) {
      throw InputError(path, "input '" + args[i + 1].name() + "' has no elements (shape " +
                                 c10::str(t.sizes()) + "); give at least one sample");
    }
  }
  return inputs;
}

std::vector<InputSpec> recordedSpecs(const torch::jit::Module& module, const std::string& path) {
  if (module.hasattr(kInputHintAttribute) && module.attr(kInputHintAttribute).isString()) {
    return {parseInputSpec(module.attr(kInputHintAttribute).toStringRef(), path + " (recorded input spec)")};
  }
  throw InputError(path,
                   "records no example input; give input specs NAME:DTYPE[dims] or an inputs file for " +
                       forwardSignature(module));
}

}  // namespace

c10::IValue readTorchSave(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError(path, "no such " + what);
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) throw InputError(path, "empty " + what);
  try {
    return torch::jit::pickle_load(bytes);
  } catch (const std::exception& e) {
    const std::string why = firstLine(e.what());
    // Python pickles a one-entry dict or list with SETITEM/APPEND, opcodes LibTorch's unpickler lacks.
    if (why.find("Unknown opcode") != std::string::npos) {
      throw InputError(path, "LibTorch cannot read a one-entry dict or list saved by Python (" + why +
                                 "); save the tensor itself or a tuple: torch.save((x,), path)");
    }
    throw InputError(path, "not a torch.save file of tensors (" + why + ")");
  }
}

std::vector<InputSpec> inputSpecsOf(const torch::jit::Module& module, const std::string& modelPath,
                                    const StepSpec& spec) {
  if (!spec.inputs.empty()) return spec.inputs;
  if (!spec.inputsFile.empty())
    throw InputError(spec.inputsFile,
                     "an inputs file has fixed sizes; give input specs NAME:DTYPE[dims] instead");
  return recordedSpecs(module, modelPath);
}

void placeModule(torch::jit::Module& module, const StepSpec& spec) {
  if (spec.device == DeviceKind::kCuda && !at::hasCUDA()) {
    throw SettingError("device",
                       "cuda is not available (this LibTorch is built without CUDA, or no GPU and "
                       "driver were found)");
  }
  if (spec.dtype) module.to(scalarTypeOf(*spec.dtype));
  if (spec.device != DeviceKind::kCpu) module.to(stepDevice(spec));
}

std::vector<c10::IValue> stepInputs(const torch::jit::Module& module, const std::string& modelPath,
                                    const StepSpec& spec) {
  try {
    std::vector<c10::IValue> drawn;
    if (!spec.inputs.empty()) {
      drawn = makeInputs(module, spec.inputs, spec.seed);
    } else if (!spec.inputsFile.empty()) {
      drawn = loadInputsFile(module, spec.inputsFile);
    } else {
      drawn = makeInputs(module, recordedSpecs(module, modelPath), spec.seed);
    }
    std::vector<c10::IValue> inputs;
    for (const auto& v : drawn)
      inputs.push_back(placeInput(v.toTensor(), spec));
    return inputs;
  } catch (const c10::Error& e) {
    // Out of memory for the inputs themselves, most often.
    const std::string why = "cannot create the inputs (" + firstLine(e.what_without_backtrace()) + ")";
    if (spec.inputsFile.empty()) throw SettingError("inputs", why);
    throw InputError(spec.inputsFile, why);
  }
}

at::Device stepDevice(const StepSpec& spec) {
  return spec.device == DeviceKind::kCuda ? at::kCUDA : at::kCPU;
}

at::Tensor placeInput(const at::Tensor& t, const StepSpec& spec) {
  at::Tensor out = t.to(stepDevice(spec));
  if (spec.dtype && at::isFloatingType(out.scalar_type())) out = out.to(scalarTypeOf(*spec.dtype));
  return out;
}

StepOptions stepOptions(const StepSpec& spec) {
  StepOptions o;
  o.trainable = spec.trainable;
  o.loss = spec.loss;
  o.optimizer = spec.optimizer;
  o.lr = spec.lr;
  o.warmupSteps = spec.warmupSteps;
  o.graphExecutorOptimize = spec.graphExecutorOptimize;
  o.recordShapes = spec.recordShapes;
  o.device = stepDevice(spec).type();
  if (spec.amp) {
    o.autocast = *spec.amp == AmpKind::kFp16 ? at::kHalf : at::kBFloat16;
#if TORCH_VERSION_MAJOR < 2
    // LibTorch 1.13's CPU autocast knows bfloat16 only: it would silently run fp16 requests in float32.
    if (*o.autocast == at::kHalf && o.device == c10::DeviceType::CPU)
      throw SettingError("amp",
                         "fp16 autocast on the CPU needs LibTorch 2.x; choose bf16, or the cuda device");
#endif
  }
  return o;
}

int stepThreads(const StepSpec& spec) {
  return spec.threads > 0 ? spec.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace lowmem
