#include "models/module_factory.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace lowmem::models {

ScriptModuleBuilder::ScriptModuleBuilder(torch::jit::Module module, bool fresh, std::string source)
    : module_(std::move(module)), fresh_(fresh), source_(std::move(source)) {}

ScriptModuleBuilder& ScriptModuleBuilder::parameter(const std::string& name, at::Tensor value,
                                                    bool trainable) {
  // register_parameter keeps whatever requires_grad the tensor has, and the flag survives save/load.
  value.set_requires_grad(trainable);
  module_.register_parameter(name, std::move(value), /*is_buffer=*/false);
  return *this;
}

ScriptModuleBuilder& ScriptModuleBuilder::buffer(const std::string& name, at::Tensor value) {
  module_.register_buffer(name, std::move(value));
  return *this;
}

ScriptModuleBuilder& ScriptModuleBuilder::child(const std::string& name, const torch::jit::Module& module) {
  module_.register_module(name, module);
  return *this;
}

ScriptModuleBuilder& ScriptModuleBuilder::attribute(const std::string& name, const c10::TypePtr& type,
                                                    const c10::IValue& value) {
  module_.register_attribute(name, type, value);
  return *this;
}

torch::jit::Module ScriptModuleBuilder::build() {
  // Every instance needs the flag's value: a second instance of a type already declaring it would otherwise
  // keep an empty slot, and `self.training` fails on the loaded model until train() or eval() is called.
  if (!module_.type()->hasAttribute("training")) {
    module_.register_attribute("training", c10::BoolType::get(), true);
  } else {
    module_._ivalue()->setAttr("training", true);
  }
  if (fresh_) module_.define(source_);
  return module_;
}

ModuleFactory::ModuleFactory(std::string prefix)
    : prefix_(std::move(prefix)), cu_(std::make_shared<torch::jit::CompilationUnit>()) {}

ScriptModuleBuilder ModuleFactory::module(const std::string& typeName, const std::string& source) {
  auto found = types_.find(typeName);
  if (found == types_.end()) {
    torch::jit::Module m(c10::QualifiedName(prefix_ + "." + typeName), cu_, /*shouldMangle=*/false);
    types_.emplace(typeName, std::make_pair(m.type(), source));
    return ScriptModuleBuilder(m, /*fresh=*/true, source);
  }
  const auto& [type, knownSource] = found->second;
  if (knownSource != source) {
    throw std::logic_error("module type " + typeName + " built with two different sources");
  }
  auto object = c10::ivalue::Object::create(c10::StrongTypePtr(cu_, type), type->numAttributes());
  return ScriptModuleBuilder(torch::jit::Module(object), /*fresh=*/false, source);
}

std::string pyFloat(double value) {
  char buf[40];
  // The shortest text that reads back as the same double, so 1e-6 prints as "1e-06", not 9.99...e-07.
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

}  // namespace lowmem::models
