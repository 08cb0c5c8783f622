#pragma once
// Builds TorchScript modules from TorchScript source in C++, the way scripted Python models look after
// torch.jit.script: one class type per kind of layer, shared by all its instances.

#include <torch/script.h>

#include <map>
#include <memory>
#include <string>

namespace lowmem::models {

class ModuleFactory;

// Collects one module's members; build() compiles the type's methods the first time the type is used.
class ScriptModuleBuilder {
 public:
  ScriptModuleBuilder& parameter(const std::string& name, at::Tensor value, bool trainable);
  ScriptModuleBuilder& buffer(const std::string& name, at::Tensor value);
  ScriptModuleBuilder& child(const std::string& name, const torch::jit::Module& module);
  ScriptModuleBuilder& attribute(const std::string& name, const c10::TypePtr& type, const c10::IValue& value);
  torch::jit::Module build();

 private:
  friend class ModuleFactory;
  ScriptModuleBuilder(torch::jit::Module module, bool fresh, std::string source);

  torch::jit::Module module_;
  bool fresh_;
  std::string source_;
};

class ModuleFactory {
 public:
  // Types are named `<prefix>.<TypeName>`, e.g. "__torch__.lowmem.vit.Attention".
  explicit ModuleFactory(std::string prefix);

  // A new instance of `typeName`. All instances of a type share its code, so every call for the same type
  // must pass the same source (checked: a mismatch is a builder bug and throws std::logic_error).
  ScriptModuleBuilder module(const std::string& typeName, const std::string& source);

 private:
  std::string prefix_;
  std::shared_ptr<torch::jit::CompilationUnit> cu_;
  std::map<std::string, std::pair<c10::ClassTypePtr, std::string>> types_;
};

// A Python float literal that round-trips the double exactly ("1e-06", "0.125", "2.0").
std::string pyFloat(double value);

}  // namespace lowmem::models
