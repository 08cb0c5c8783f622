#include "patcher/rewriter.h"

#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/constant_propagation.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "core/error.h"
#include "core/model_attributes.h"
#include "kernels/ops_library.h"
#include "patcher/attention_rewrite.h"
#include "patcher/inlined_graph.h"
#include "patcher/module_paths.h"
#include "patcher/type_split.h"
#include "profiler/model_inspector.h"

namespace lowmem {
namespace {

using torch::jit::Node;
using torch::jit::Value;

at::Tensor parameter(const torch::jit::Module& root, const std::string& path) {
  auto [owner, name] = splitLastComponent(path);
  return submoduleAt(root, owner).attr(name).toTensor();
}

// The qualified op for a kind; InputError for a kind without one.
c10::Symbol opFor(SiteKind kind) {
  const auto op = replacementOp(kind);
  if (op.empty())
    throw InputError("patch", std::string(siteKindName(kind)) + " has no memory-sharing replacement");
  return c10::Symbol::fromQualString(op);
}

bool isSwappedActivation(const Node* n, SiteKind kind) {
  if (kind == SiteKind::kSilu) return n->kind() == c10::aten::silu;
  if (n->kind() != c10::aten::gelu) return false;
  if (n->inputs().size() < 2) return true;
  auto mode = torch::jit::toIValue(n->input(1));
  return mode && mode->isString() && mode->toStringRef() == "none";
}

// 2 bits: lowmem::regelu2 / resilu2 (the paper's ops); 3 or 4: lowmem::regelu / resilu(x, bits).
void swapActivations(torch::jit::Block* block, SiteKind kind, int bits, int& count) {
  for (auto it = block->nodes().begin(); it != block->nodes().end();) {
    Node* n = *it;
    ++it;
    for (auto* inner : n->blocks())
      swapActivations(inner, kind, bits, count);
    if (!isSwappedActivation(n, kind)) continue;
    auto* graph = n->owningGraph();
    torch::jit::WithInsertPoint guard(n);
    const auto op = c10::Symbol::fromQualString(replacementOp(kind, bits));
    Value* out = bits == 2
                     ? graph->insert(op, {n->input(0)})
                     : graph->insert(op, {n->input(0), graph->insertConstant(c10::IValue(int64_t{bits}))});
    out->setType(n->output()->type());
    n->output()->replaceAllUsesWith(out);
    n->destroy();
    ++count;
  }
}

// y * gamma + beta after the MS-norm's output `y`, reading the affine from the (no longer called) norm
// module.
Value* reapplyAffine(Value* y, Value* self, const SitePlan& plan) {
  auto* graph = y->owningGraph();
  torch::jit::WithInsertPoint guard(y->node()->next());
  Value* norm = graph->insertGetAttr(self, plan.attribute);
  Value* z = y;
  if (!plan.gamma.empty())
    z = graph->insert(c10::aten::mul, {z, graph->insertGetAttr(norm, splitLastComponent(plan.gamma).second)});
  if (!plan.beta.empty())
    z = graph->insert(c10::aten::add, {z, graph->insertGetAttr(norm, splitLastComponent(plan.beta).second)});
  return z;
}

// Replaces `self.<attribute>.forward(x)` in `block` by the MS-norm op; residual adds and subs on its output
// take the re-applied affine. Returns how many calls it replaced.
int replaceNormCalls(torch::jit::Block* block, Value* self, const SitePlan& plan, const c10::Symbol& op) {
  int count = 0;
  for (auto it = block->nodes().begin(); it != block->nodes().end();) {
    Node* n = *it;
    ++it;
    for (auto* inner : n->blocks())
      count += replaceNormCalls(inner, self, plan, op);
    if (n->kind() != c10::prim::CallMethod || n->s(c10::attr::name) != "forward" || n->inputs().size() != 2)
      continue;
    const Node* target = n->input(0)->node();
    if (target->kind() != c10::prim::GetAttr || target->input(0) != self ||
        target->s(c10::attr::name) != plan.attribute)
      continue;
    auto* graph = n->owningGraph();
    Value* out = nullptr;
    {
      torch::jit::WithInsertPoint guard(n);
      Value* shape = graph->insertConstant(c10::IValue(std::vector<int64_t>{plan.normalizedSize}));
      Value* epsilon = graph->insertConstant(c10::IValue(plan.eps));
      out = graph->insert(op, {n->input(1), shape, epsilon});
    }
    out->setType(n->output()->type());
    n->output()->replaceAllUsesWith(out);
    n->destroy();
    ++count;
    std::vector<torch::jit::Use> residual;
    for (const auto& use : out->uses()) {
      const auto kind = use.user->kind();
      if ((kind == c10::aten::add || kind == c10::aten::sub) && use.offset < 2) residual.push_back(use);
    }
    if (static_cast<int>(residual.size()) != plan.residualUses) {
      throw InputError("patch", "the code calling " + plan.site.modulePath + " has " +
                                    std::to_string(residual.size()) + " residual adds on its output, " +
                                    std::to_string(plan.residualUses) + " expected");
    }
    if (residual.empty() || (plan.gamma.empty() && plan.beta.empty())) continue;
    Value* affine = reapplyAffine(out, self, plan);
    for (const auto& use : residual)
      use.user->replaceInput(use.offset, affine);
  }
  return count;
}

// The module code that calls `linear(x, self.<weight>)` without a bias, given `self.<weight>_bias` (a LoRA
// A: linear(x, self.lora_A, self.lora_A_bias); an nn.Linear without bias: self.weight_bias).
struct BiasSlot {
  c10::ClassTypePtr type;
  std::string weight;
  bool operator<(const BiasSlot& o) const { return std::tie(type, weight) < std::tie(o.type, o.weight); }
};

std::string biasName(const std::string& weight) {
  return weight + "_bias";
}

int addFoldedBias(torch::jit::Block* block, Value* self, const std::string& weight) {
  int count = 0;
  for (Node* n : block->nodes()) {
    for (auto* inner : n->blocks())
      count += addFoldedBias(inner, self, weight);
    if (n->kind() != c10::aten::linear || n->inputs().size() < 2) continue;
    const Node* w = n->input(1)->node();
    if (w->kind() != c10::prim::GetAttr || w->input(0) != self || w->s(c10::attr::name) != weight) continue;
    if (n->inputs().size() > 2 && !n->input(2)->mustBeNone()) continue;
    auto* graph = n->owningGraph();
    torch::jit::WithInsertPoint guard(n);
    Value* bias = graph->insertGetAttr(self, biasName(weight));
    if (n->inputs().size() > 2) {
      n->replaceInput(2, bias);
    } else {
      n->addInput(bias);
    }
    ++count;
  }
  return count;
}

// gamma and beta into one consumer, in float64: W' = W diag(gamma), b' = b + W beta (a transposed Conv1D
// A buffer registered on one instance adds an attribute to its type, which every instance shares: the
// others would have one slot fewer than their type says, and any walk over them (named_modules, attributes)
// reads past their slots (LibTorch checks that only in debug builds; ASan's build caught it). So the first
// fold into a type's bias-less linear gives every instance of the type a zero bias at once, found before the
// type changes.
void giveEveryInstanceABias(torch::jit::Module& root, const torch::jit::Module& owner,
                            const std::string& weight) {
  std::vector<torch::jit::Module> instances;
  for (const auto& path : instancePaths(root, owner.type()))
    instances.push_back(submoduleAt(root, path));
  for (auto& m : instances) {
    const auto w = m.attr(weight).toTensor();
    m.register_buffer(biasName(weight), at::zeros({w.size(0)}, w.options().requires_grad(false)));
  }
}

// weight: W' = diag(gamma) W, b' = b + W^T beta; a bias-less linear: W beta becomes its bias buffer).
void fold(torch::jit::Module& root, const FoldTarget& f, const at::Tensor& gamma, const at::Tensor& beta,
          std::set<BiasSlot>& slots) {
  torch::NoGradGuard noGrad;
  at::Tensor w = parameter(root, f.weight);
  const auto w64 = w.to(at::kDouble);
  const auto g64 = gamma.defined() ? gamma.to(at::kDouble) : at::Tensor();
  at::Tensor folded = !g64.defined() ? w64 : f.transposed ? w64 * g64.unsqueeze(1) : w64 * g64.unsqueeze(0);
  at::Tensor shift =
      beta.defined() ? at::mv(f.transposed ? w64.t() : w64, beta.to(at::kDouble)) : at::Tensor();
  w.copy_(folded.to(w.scalar_type()));
  if (!shift.defined()) return;
  if (f.bias.empty()) {
    auto [ownerPath, attr] = splitLastComponent(f.weight);
    auto owner = submoduleAt(root, ownerPath);
    slots.insert({owner.type(), attr});
    if (!owner.hasattr(biasName(attr))) giveEveryInstanceABias(root, owner, attr);
    owner.register_buffer(biasName(attr), shift.to(w.scalar_type()));
    return;
  }
  at::Tensor b = parameter(root, f.bias);
  b.copy_((b.to(at::kDouble) + shift).to(b.scalar_type()));
}

// When a piece of code is to be rewritten for some of its type's instances only, the smaller side (patched or
// not) gets types of their own, so the rewrite reaches exactly the patched ones. A split never breaks a group
// already whole, so each round settles at least one group.
void separatePatchedInstances(torch::jit::Module& module, const std::vector<SitePlan>& plans) {
  for (size_t round = 0; round <= plans.size(); ++round) {
    std::map<std::pair<c10::ClassTypePtr, std::string>, std::set<std::string>> patched;
    for (const auto& plan : plans)
      patched[{submoduleAt(module, rewriteHolder(plan)).type(), rewriteKey(plan)}].insert(
          rewriteHolder(plan));
    bool split = false;
    for (const auto& [key, holders] : patched) {
      std::vector<std::string> others;
      for (const auto& path : instancePaths(module, key.first)) {
        if (!holders.count(path)) others.push_back(path);
      }
      if (others.empty()) continue;
      const std::vector<std::string> chosen(holders.begin(), holders.end());
      for (const auto& path : others.size() < chosen.size() ? others : chosen)
        giveOwnType(module, path);
      split = true;
      break;
    }
    if (!split) return;
  }
  throw InputError("patch", "could not give the patched instances types of their own");
}

}  // namespace

std::vector<AppliedRewrite> recordedRewrites(const torch::jit::Module& m) {
  std::vector<AppliedRewrite> out;
  for (const auto& text : recordedRewriteTexts(m)) {
    const auto r = AppliedRewrite::parse(text);
    if (!r)
      throw InputError("patch", "the model records a rewrite this version does not know: '" + text + "'");
    out.push_back(*r);
  }
  return out;
}

AppliedRewrite appliedRewrite(const SitePlan& plan) {
  AppliedRewrite r;
  r.kind = plan.site.kind;
  r.bits = isSwappableActivationKind(plan.site.kind) ? plan.bits : 2;
  r.modulePath = plan.site.modulePath;
  r.ordinal = plan.site.ordinal;
  return r;
}

namespace {

void checkNotYetPatched(const std::vector<AppliedRewrite>& recorded, const std::vector<SitePlan>& plans) {
  for (const auto& plan : plans) {
    const auto record = appliedRewrite(plan);
    if (!plan.valid) throw InputError("patch", "site " + record.text() + " is not swappable: " + plan.reason);
    for (const auto& r : recorded) {
      if (r.sameSite(record)) throw InputError("patch", "the model was already patched at " + r.text());
    }
  }
}

// The activations of one piece of code (`members`, from `holders` instances sharing it) become ReGELU-k /
// ReSiLU-k.
void rewriteActivations(std::shared_ptr<torch::jit::Graph>& graph,
                        const std::vector<const SitePlan*>& members, size_t holders,
                        const std::string& code) {
  const SitePlan& first = *members.front();
  for (const auto* plan : members) {
    if (plan->bits != first.bits)
      throw SettingError("bits", code + " is to keep " + std::to_string(plan->bits) + " and " +
                                     std::to_string(first.bits) + " bits; one piece of code takes one");
  }
  int count = 0;
  swapActivations(graph->block(), first.site.kind, first.bits, count);
  if (count == 0 && inlineOwnCode(graph)) {
    // nn.SiLU's forward calls F.silu, a function: its code becomes the module's own, then the op is there.
    swapActivations(graph->block(), first.site.kind, first.bits, count);
  }
  if (count == 0) {
    throw InputError("patch", "the " + std::string(siteKindName(first.site.kind)) + " of " +
                                  rewriteHolder(first) + " is in a function it calls, not in its own code");
  }
  if (static_cast<size_t>(count) * holders != members.size()) {
    throw InputError("patch", code + " has " + std::to_string(count) + " " + siteKindName(first.site.kind) +
                                  " sites; select all of them or none");
  }
}

// The attention chains of one piece of code become lowmem::attention; HF's attention function and F.softmax
// are free functions its code calls, so those are inlined first. The sites are the chains of the code as its
// instances' configuration leaves it (the analysis of the whole model takes plain attributes as constants):
// a chain in a branch that configuration rules out (nn.MultiheadAttention's separate projections when
// `_qkv_same_embed_dim`) is no site, and is rewritten with the others, which computes the same.
void rewriteAttention(const torch::jit::Module& holder, std::shared_ptr<torch::jit::Graph>& graph,
                      size_t members, size_t holders, const std::string& code) {
  inlineOwnCode(graph);
  auto configured = graph->copy();
  foldInstanceConfiguration(configured, holder);
  const auto sites = ownAttentionChains(holder, *configured).size();
  if (sites == 0) throw InputError("patch", "no attention chain found in " + code);
  if (sites * holders != members) {
    throw InputError("patch",
                     code + " has " + std::to_string(sites) + " attention sites; select all of them or none");
  }
  if (static_cast<size_t>(rewriteAttentionChains(holder, graph)) < sites)
    throw InputError("patch", "not every attention chain in " + code + " could be rewritten");
}

// A call that asks an attention's module for the probabilities (`need_weights=True`) and drops what they
// reach passes False instead, so the rewritten module runs the op for it (the planner checked the drop).
int passFalse(torch::jit::Block* block, const Value* self, const std::string& target, size_t input) {
  int count = 0;
  for (Node* n : block->nodes()) {
    for (auto* inner : n->blocks())
      count += passFalse(inner, self, target, input);
    if (n->kind() != c10::prim::CallMethod || n->s(c10::attr::name) != "forward" ||
        n->inputs().size() <= input)
      continue;
    const auto path = attributePath(n->input(0), self);
    const auto asked = torch::jit::toIValue(n->input(input));
    if (!path || *path != target || !asked || !asked->isBool() || !asked->toBool()) continue;
    torch::jit::WithInsertPoint guard(n);
    n->replaceInput(input, n->owningGraph()->insertConstant(c10::IValue(false)));
    ++count;
  }
  return count;
}

// Each caller type's code once: instances share it, and every one of its calls drops what they asked for.
void stopAskingForProbabilities(torch::jit::Module& module, const std::vector<SitePlan>& plans) {
  std::set<std::tuple<c10::ClassTypePtr, std::string, int>> done;
  for (const auto& plan : plans) {
    const auto& a = plan.attention;
    for (const auto& callerPath : a.askingCallers) {
      const auto& path = plan.site.modulePath;
      const bool under = callerPath.empty() || path.rfind(callerPath + ".", 0) == 0;
      const auto where = callerPath.empty() ? std::string("the root") : callerPath;
      if (!under) throw InputError("patch", path + " is called from " + where + ", which does not hold it");
      const auto target = callerPath.empty() ? path : path.substr(callerPath.size() + 1);
      auto caller = submoduleAt(module, callerPath);
      if (!done.insert({caller.type(), target, a.askArgument}).second) continue;
      int count = 0;
      for (auto* method : caller.type()->methods()) {
        auto graph = torch::jit::toGraphFunction(*method).graph();
        count +=
            passFalse(graph->block(), graph->inputs()[0], target, static_cast<size_t>(a.askArgument) + 1);
      }
      if (count == 0) {
        throw InputError(
            "patch", "no call of " + path + " passing " + a.askName + "=True found in the code of " + where);
      }
    }
  }
}

struct FoldState {
  std::set<BiasSlot> biasSlots;  // linears that received a folded bias, by type
};

// The norm calls of one piece of code become MS-norm calls; each norm's affine is folded into its consumers
// and frozen.
void rewriteNorms(torch::jit::Module& module, std::shared_ptr<torch::jit::Graph>& graph,
                  const std::vector<const SitePlan*>& members, const std::string& code, FoldState& folds,
                  RewriteResult& result) {
  const SitePlan& first = *members.front();
  if (replaceNormCalls(graph->block(), graph->inputs()[0], first, opFor(first.site.kind)) == 0)
    throw InputError("patch", "no call of " + first.attribute + " found in " + code);
  torch::jit::EliminateDeadCode(graph);
  for (const auto* plan : members) {
    at::Tensor gamma = plan->gamma.empty() ? at::Tensor() : parameter(module, plan->gamma);
    at::Tensor beta = plan->beta.empty() ? at::Tensor() : parameter(module, plan->beta);
    for (const auto& f : plan->folds) {
      fold(module, f, gamma, beta, folds.biasSlots);
      result.foldedParameters.push_back(f.weight);
      if (!f.bias.empty() && beta.defined()) result.foldedParameters.push_back(f.bias);
    }
    for (auto* p : {&gamma, &beta}) {
      if (p->defined()) p->set_requires_grad(false);
    }
    if (!plan->gamma.empty()) result.frozenParameters.push_back(plan->gamma);
    if (!plan->beta.empty()) result.frozenParameters.push_back(plan->beta);
  }
}

// Types whose linear received a bias (every instance holds the buffer since the first fold, zeros where
// nothing was folded): the type's code now uses it.
void addFoldedBiases(torch::jit::Module& module, const FoldState& folds) {
  for (const auto& slot : folds.biasSlots) {
    const auto paths = instancePaths(module, slot.type);
    auto graph = submoduleAt(module, paths.front()).get_method("forward").graph();
    if (addFoldedBias(graph->block(), graph->inputs()[0], slot.weight) == 0)
      throw InputError("patch", "module type " + slot.type->name()->name() + " has no linear(x, self." +
                                    slot.weight + ")");
  }
}

void recordRewrites(torch::jit::Module& module, const std::vector<AppliedRewrite>& all) {
  c10::List<std::string> list;
  for (const auto& r : all)
    list.push_back(r.text());
  if (module.hasattr(kRewritesAttribute)) {
    module.setattr(kRewritesAttribute, list);
  } else {
    module.register_attribute(kRewritesAttribute, c10::ListType::ofStrings(), list);
  }
}

}  // namespace

RewriteResult applyRewrites(torch::jit::Module& module, const std::vector<SitePlan>& plans) {
  kernels::ensureOpsRegistered();
  RewriteResult result;
  auto recorded = recordedRewrites(module);
  checkNotYetPatched(recorded, plans);
  separatePatchedInstances(module, plans);
  // Every instance of each piece of code is now patched: rewrite each once.
  std::map<std::pair<c10::ClassTypePtr, std::string>, std::vector<const SitePlan*>> groups;
  for (const auto& plan : plans)
    groups[{submoduleAt(module, rewriteHolder(plan)).type(), rewriteKey(plan)}].push_back(&plan);
  // In forward order (a group's first site), not by type pointer: the records, and the order folds are
  // applied and reported in, are the same on every run.
  std::vector<std::pair<c10::ClassTypePtr, const std::vector<const SitePlan*>*>> ordered;
  for (const auto& [key, members] : groups)
    ordered.emplace_back(key.first, &members);
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    return a.second->front()->site.ordinal < b.second->front()->site.ordinal;
  });
  FoldState folds;
  for (const auto& [type, membersOf] : ordered) {
    const auto& members = *membersOf;
    const SitePlan& first = *members.front();
    std::set<std::string> holders;
    for (const auto* plan : members)
      holders.insert(rewriteHolder(*plan));
    const auto code = "the code of " + rewriteHolder(first) + " (type " + type->name()->name() + ")";
    auto graph = submoduleAt(module, rewriteHolder(first)).get_method("forward").graph();
    if (isSwappableActivationKind(first.site.kind)) {
      rewriteActivations(graph, members, holders.size(), code);
    } else if (first.site.kind == SiteKind::kAttention) {
      rewriteAttention(submoduleAt(module, rewriteHolder(first)), graph, members.size(), holders.size(),
                       code);
    } else {
      rewriteNorms(module, graph, members, code, folds, result);
    }
    for (const auto* plan : members)
      result.rewrites.push_back(appliedRewrite(*plan));
  }
  addFoldedBiases(module, folds);
  stopAskingForProbabilities(module, plans);
  recorded.insert(recorded.end(), result.rewrites.begin(), result.rewrites.end());
  recordRewrites(module, recorded);
  return result;
}

}  // namespace lowmem
