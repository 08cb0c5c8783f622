#include "patcher/rewriter.h"

#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <map>
#include <set>

#include "core/error.h"
#include "core/model_attributes.h"
#include "kernels/ops_library.h"
#include "patcher/module_paths.h"

namespace lowmem {
namespace {

using torch::jit::Node;
using torch::jit::Value;

at::Tensor parameter(const torch::jit::Module& root, const std::string& path) {
  auto [owner, name] = splitLastComponent(path);
  return submoduleAt(root, owner).attr(name).toTensor();
}

const char* opFor(SiteKind kind) {
  switch (kind) {
    case SiteKind::kGelu:
      return "lowmem::regelu2";
    case SiteKind::kSilu:
      return "lowmem::resilu2";
    case SiteKind::kLayerNorm:
      return "lowmem::ms_layer_norm";
    case SiteKind::kRmsNorm:
      return "lowmem::ms_rms_norm";
    case SiteKind::kGeluTanh:
      break;
  }
  throw InputError("patch", "GELU(tanh) has no memory-sharing replacement");
}

bool isSwappedActivation(const Node* n, SiteKind kind) {
  if (kind == SiteKind::kSilu) return n->kind() == c10::aten::silu;
  if (n->kind() != c10::aten::gelu) return false;
  if (n->inputs().size() < 2) return true;
  auto mode = torch::jit::toIValue(n->input(1));
  return mode && mode->isString() && mode->toStringRef() == "none";
}

void swapActivations(torch::jit::Block* block, SiteKind kind, const c10::Symbol& op, int& count) {
  for (auto it = block->nodes().begin(); it != block->nodes().end();) {
    Node* n = *it;
    ++it;
    for (auto* inner : n->blocks())
      swapActivations(inner, kind, op, count);
    if (!isSwappedActivation(n, kind)) continue;
    auto* graph = n->owningGraph();
    torch::jit::WithInsertPoint guard(n);
    Value* out = graph->insert(op, {n->input(0)});
    out->setType(n->output()->type());
    n->output()->replaceAllUsesWith(out);
    n->destroy();
    ++count;
  }
}

// Replaces `self.<attribute>.forward(x)` in `graph` by the MS-norm op; returns how many calls it replaced.
int replaceNormCalls(torch::jit::Block* block, const Value* self, const std::string& attribute,
                     const c10::Symbol& op, int64_t size, double eps) {
  int count = 0;
  for (auto it = block->nodes().begin(); it != block->nodes().end();) {
    Node* n = *it;
    ++it;
    for (auto* inner : n->blocks())
      count += replaceNormCalls(inner, self, attribute, op, size, eps);
    if (n->kind() != c10::prim::CallMethod || n->s(c10::attr::name) != "forward" || n->inputs().size() != 2)
      continue;
    const Node* target = n->input(0)->node();
    if (target->kind() != c10::prim::GetAttr || target->input(0) != self ||
        target->s(c10::attr::name) != attribute)
      continue;
    auto* graph = n->owningGraph();
    torch::jit::WithInsertPoint guard(n);
    Value* shape = graph->insertConstant(c10::IValue(std::vector<int64_t>{size}));
    Value* epsilon = graph->insertConstant(c10::IValue(eps));
    Value* out = graph->insert(op, {n->input(1), shape, epsilon});
    out->setType(n->output()->type());
    n->output()->replaceAllUsesWith(out);
    n->destroy();
    ++count;
  }
  return count;
}

// linear(x, self.lora_A) -> linear(x, self.lora_A, self.lora_A_bias) in a LoRA module type's code.
int addLoraBias(torch::jit::Block* block, const Value* self) {
  int count = 0;
  for (Node* n : block->nodes()) {
    for (auto* inner : n->blocks())
      count += addLoraBias(inner, const_cast<Value*>(self));
    if (n->kind() != c10::aten::linear || n->inputs().size() < 2) continue;
    const Node* w = n->input(1)->node();
    if (w->kind() != c10::prim::GetAttr || w->input(0) != self || w->s(c10::attr::name) != "lora_A") continue;
    if (n->inputs().size() > 2 && !n->input(2)->mustBeNone()) continue;
    auto* graph = n->owningGraph();
    torch::jit::WithInsertPoint guard(n);
    Value* bias = graph->insertGetAttr(const_cast<Value*>(self), "lora_A_bias");
    if (n->inputs().size() > 2) {
      n->replaceInput(2, bias);
    } else {
      n->addInput(bias);
    }
    ++count;
  }
  return count;
}

std::vector<torch::jit::Module> instancesOf(const torch::jit::Module& root, const c10::ClassTypePtr& type) {
  std::vector<torch::jit::Module> out;
  for (const auto& m : root.modules()) {
    if (m.type() == type) out.push_back(m);
  }
  return out;
}

// gamma and beta into one consumer, in float64: W' = W diag(gamma), b' = b + W beta (LoRA A: the A*beta
// bias).
void fold(torch::jit::Module& root, const FoldTarget& f, const at::Tensor& gamma, const at::Tensor& beta,
          std::set<c10::ClassTypePtr>& loraTypes, std::set<const c10::ivalue::Object*>& withBias) {
  torch::NoGradGuard noGrad;
  at::Tensor w = parameter(root, f.weight);
  const auto w64 = w.to(at::kDouble);
  at::Tensor folded = gamma.defined() ? w64 * gamma.to(at::kDouble).unsqueeze(0) : w64;
  at::Tensor shift = beta.defined() ? at::mv(w64, beta.to(at::kDouble)) : at::Tensor();
  w.copy_(folded.to(w.scalar_type()));
  if (!shift.defined()) return;
  if (f.lora) {
    auto owner = submoduleAt(root, splitLastComponent(f.weight).first);
    loraTypes.insert(owner.type());
    owner.register_buffer("lora_A_bias", shift.to(w.scalar_type()));
    withBias.insert(owner._ivalue().get());
    return;
  }
  at::Tensor b = parameter(root, f.bias);
  b.copy_((b.to(at::kDouble) + shift).to(b.scalar_type()));
}

std::vector<std::string> recordedRewrites(const torch::jit::Module& m) {
  std::vector<std::string> out;
  if (!m.hasattr(kRewritesAttribute)) return out;
  auto v = m.attr(kRewritesAttribute);
  if (!v.isList()) return out;
  for (const auto& r : v.toListRef()) {
    if (r.isString()) out.push_back(r.toStringRef());
  }
  return out;
}

}  // namespace

std::string rewriteRecord(const SitePlan& plan) {
  std::string op = opFor(plan.site.kind);
  op = op.substr(op.find("::") + 2);
  return op + " " + (plan.site.modulePath.empty() ? "(root)" : plan.site.modulePath) + " #" +
         std::to_string(plan.site.ordinal);
}

RewriteResult applyRewrites(torch::jit::Module& module, const std::vector<SitePlan>& plans) {
  kernels::ensureOpsRegistered();
  RewriteResult result;
  auto recorded = recordedRewrites(module);
  for (const auto& plan : plans) {
    if (!plan.valid)
      throw InputError("patch", "site " + rewriteRecord(plan) + " is not swappable: " + plan.reason);
    const auto record = rewriteRecord(plan);
    for (const auto& r : recorded) {
      if (r.substr(0, r.find(" #")) == record.substr(0, record.find(" #")))
        throw InputError("patch", "the model was already patched at " + record.substr(0, record.find(" #")));
    }
  }
  std::map<std::string, std::vector<const SitePlan*>> units;
  for (const auto& plan : plans)
    units[plan.unit].push_back(&plan);

  std::set<c10::ClassTypePtr> loraTypes;
  std::set<const c10::ivalue::Object*> withBias;
  for (const auto& [unit, members] : units) {
    const SitePlan& first = *members.front();
    const auto op = c10::Symbol::fromQualString(opFor(first.site.kind));
    if (first.site.kind == SiteKind::kGelu || first.site.kind == SiteKind::kSilu) {
      auto owner = submoduleAt(module, first.site.modulePath);
      auto graph = owner.get_method("forward").graph();
      int count = 0;
      swapActivations(graph->block(), first.site.kind, op, count);
      if (count == 0) {
        throw InputError("patch", "the " + std::string(siteKindName(first.site.kind)) + " of " + unit +
                                      " is in a function it calls, not in its own code; not rewritten");
      }
    } else {
      auto parent = submoduleAt(module, first.parentPath);
      auto graph = parent.get_method("forward").graph();
      const int count = replaceNormCalls(graph->block(), graph->inputs()[0], first.attribute, op,
                                         first.normalizedSize, first.eps);
      if (count == 0) throw InputError("patch", "no call of " + first.attribute + " found in " + unit);
      torch::jit::EliminateDeadCode(graph);
      for (const auto* plan : members) {
        at::Tensor gamma = plan->gamma.empty() ? at::Tensor() : parameter(module, plan->gamma);
        at::Tensor beta = plan->beta.empty() ? at::Tensor() : parameter(module, plan->beta);
        for (const auto& f : plan->folds) {
          fold(module, f, gamma, beta, loraTypes, withBias);
          result.foldedParameters.push_back(f.weight);
          if (!f.bias.empty() && beta.defined()) result.foldedParameters.push_back(f.bias);
        }
        for (auto* p : {&gamma, &beta}) {
          if (p->defined()) p->set_requires_grad(false);
        }
        if (!plan->gamma.empty()) result.unusedParameters.push_back(plan->gamma);
        if (!plan->beta.empty()) result.unusedParameters.push_back(plan->beta);
      }
    }
    for (const auto* plan : members)
      result.rewrites.push_back(rewriteRecord(*plan));
  }
  // LoRA types that received a bias: every instance gets one (zeros where nothing was folded), then the
  // type's code uses it.
  for (const auto& type : loraTypes) {
    for (auto& m : instancesOf(module, type)) {
      // Instances of the type that took no fold have the new slot but no value yet.
      if (!withBias.count(m._ivalue().get())) {
        const auto a = m.attr("lora_A").toTensor();
        m.register_buffer("lora_A_bias", at::zeros({a.size(0)}, a.options().requires_grad(false)));
      }
    }
    auto any = instancesOf(module, type).front();
    auto graph = any.get_method("forward").graph();
    if (addLoraBias(graph->block(), graph->inputs()[0]) == 0)
      throw InputError("patch",
                       "LoRA module type " + type->name()->name() + " has no linear(x, self.lora_A)");
  }
  auto all = recorded;
  all.insert(all.end(), result.rewrites.begin(), result.rewrites.end());
  c10::List<std::string> list;
  for (const auto& r : all)
    list.push_back(r);
  if (module.hasattr(kRewritesAttribute)) {
    module.setattr(kRewritesAttribute, list);
  } else {
    module.register_attribute(kRewritesAttribute, c10::ListType::ofStrings(), list);
  }
  return result;
}

}  // namespace lowmem
