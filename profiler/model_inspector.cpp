#include "profiler/model_inspector.h"

#include <sstream>

#include "core/model_attributes.h"
#include "profiler/trainable_check.h"

namespace lowmem {
namespace {

std::string joinPath(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "." + name;
}

// Appends the rows of `module`'s subtree in pre-order and returns the subtree's totals.
ParameterCounts visit(const torch::jit::Module& module, const std::string& path, int depth,
                      const TrainableSelection& trainable, std::vector<ModuleRow>& rows) {
  const size_t index = rows.size();
  rows.push_back({});
  ModuleRow row;
  row.path = path;
  row.type = module.type()->name() ? module.type()->name()->name() : "Module";
  row.depth = depth;
  for (const auto& p : module.named_parameters(/*recurse=*/false)) {
    const int64_t bytes = static_cast<int64_t>(p.value.numel() * p.value.element_size());
    row.own.params += p.value.numel();
    row.own.bytes += bytes;
    if (trainable.trains(joinPath(path, p.name), p.value.requires_grad())) {
      row.own.trainableParams += p.value.numel();
      row.own.trainableBytes += bytes;
    }
  }
  for (const auto& b : module.named_buffers(/*recurse=*/false)) {
    row.bufferBytes += static_cast<int64_t>(b.value.numel() * b.value.element_size());
  }
  row.total = row.own;
  for (const auto& child : module.named_children()) {
    row.total += visit(child.value, joinPath(path, child.name), depth + 1, trainable, rows);
  }
  rows[index] = row;
  return row.total;
}

}  // namespace

std::string forwardSignature(const torch::jit::Module& module) {
  const auto& schema = module.get_method("forward").function().getSchema();
  std::ostringstream out;
  out << "forward(";
  const auto& args = schema.arguments();
  for (size_t i = 1; i < args.size(); ++i)
    out << (i > 1 ? ", " : "") << args[i].type()->annotation_str() << " " << args[i].name();
  out << ") -> ";
  const auto& rets = schema.returns();
  if (rets.size() == 1) {
    out << rets[0].type()->annotation_str();
  } else {
    out << "(";
    for (size_t i = 0; i < rets.size(); ++i)
      out << (i ? ", " : "") << rets[i].type()->annotation_str();
    out << ")";
  }
  return out.str();
}

ModelSummary inspectModel(const torch::jit::Module& module, const std::string& file,
                          const TrainableSelection& trainable) {
  ModelSummary s;
  s.file = file;
  s.trainable = trainable.text();
  s.forwardSignature = forwardSignature(module);
  checkSelectsParameters(module, trainable, /*stepNeedsOne=*/false);
  visit(module, "", 0, trainable, s.modules);
  if (module.hasattr(kInputHintAttribute)) {
    auto hint = module.attr(kInputHintAttribute);
    if (hint.isString()) s.inputHint = hint.toStringRef();
  }
  s.appliedRewrites = recordedRewriteTexts(module);
  if (module.hasattr(kBaseModelAttribute) && module.attr(kBaseModelAttribute).isString())
    s.baseModel = module.attr(kBaseModelAttribute).toStringRef();
  return s;
}

std::vector<std::string> recordedRewriteTexts(const torch::jit::Module& module) {
  std::vector<std::string> out;
  if (!module.hasattr(kRewritesAttribute)) return out;
  const auto rewrites = module.attr(kRewritesAttribute);
  if (!rewrites.isList()) return out;
  for (const auto& r : rewrites.toListRef()) {
    if (r.isString()) out.push_back(r.toStringRef());
  }
  return out;
}

}  // namespace lowmem
