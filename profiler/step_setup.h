#pragma once
// Turns a StepSpec into what a training step needs: the module cast to the spec's dtype and device, the
// example inputs (drawn, or loaded from a file), and the step options. Shared by profiling, patch
// verification and comparison, so every run of a session sees the same step.

#include <torch/script.h>

#include <string>
#include <vector>

#include "core/step_spec.h"
#include "profiler/training_step.h"

namespace lowmem {

// Casts floating parameters and buffers to spec.dtype (when given) and moves the module to spec.device.
// SettingError("device") when CUDA is asked for and this LibTorch has no usable CUDA device.
void placeModule(torch::jit::Module& module, const StepSpec& spec);

// spec.inputs, else spec.inputsFile, else the model's recorded input hint; cast to spec.dtype (floating
// inputs) and moved to spec.device. `modelPath` names the model in errors.
std::vector<c10::IValue> stepInputs(const torch::jit::Module& module, const std::string& modelPath,
                                    const StepSpec& spec);

// The input specs the step draws from: spec.inputs, else the model's recorded input hint. InputError naming
// `modelPath` when it records none, and for an inputs file (its sizes are fixed).
std::vector<InputSpec> inputSpecsOf(const torch::jit::Module& module, const std::string& modelPath,
                                    const StepSpec& spec);

// The device spec.device names.
at::Device stepDevice(const StepSpec& spec);

// A tensor moved to spec.device and, when floating, cast to spec.dtype: how every example input (drawn,
// from --inputs-file or from validate's --data) reaches the model.
at::Tensor placeInput(const at::Tensor& t, const StepSpec& spec);

StepOptions stepOptions(const StepSpec& spec);

// The value a torch.save'd file holds (read with LibTorch's unpickler). InputError naming `path` ("no such
// WHAT", "empty WHAT", not a torch.save file).
c10::IValue readTorchSave(const std::string& path, const std::string& what);

// spec.threads, or every core for 0.
int stepThreads(const StepSpec& spec);

}  // namespace lowmem
