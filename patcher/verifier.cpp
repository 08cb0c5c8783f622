#include "patcher/verifier.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <cmath>
#include <map>

#include "kernels/attention_dropout.h"

namespace lowmem {
namespace {

at::Tensor firstOutput(const c10::IValue& v) {
  if (v.isTensor()) return v.toTensor();
  if (v.isTuple() && !v.toTupleRef().elements().empty()) return firstOutput(v.toTupleRef().elements()[0]);
  if (v.isList() && !v.toListRef().empty()) return firstOutput(v.toListRef()[0]);
  throw std::runtime_error("the model returned no tensor");
}

std::map<std::string, at::Tensor> runAndGrad(torch::jit::Module& m, const std::vector<c10::IValue>& inputs,
                                             const TrainableSelection& trainable, const ForwardCall& forward,
                                             at::Tensor& out, at::Tensor& probe) {
  m.train();
  std::map<std::string, at::Tensor> params;
  for (const auto& p : m.named_parameters()) {
    at::Tensor t = p.value;
    t.set_requires_grad(trainable.trains(p.name, t.requires_grad()));
    t.mutable_grad().reset();
    params[p.name] = t;
  }
  at::manual_seed(0);
  out = firstOutput(forward ? forward(m, inputs) : m.forward(inputs));
  if (!probe.defined()) {
    auto gen = at::detail::createCPUGenerator(7);
    probe = at::randn(out.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(out.device());
  }
  if (out.requires_grad()) (out.to(at::kFloat) * probe).sum().backward();
  std::map<std::string, at::Tensor> grads;
  for (const auto& [name, t] : params) {
    if (t.requires_grad() && t.grad().defined()) grads[name] = t.grad().to(at::kDouble).flatten();
  }
  return grads;
}

// Each trainable gradient against its patched twin, classified (GradientAgreement) and sorted worst first;
// the overall cosine over every directly comparable one.
void compareGradients(const std::map<std::string, at::Tensor>& gradsA,
                      const std::map<std::string, at::Tensor>& gradsB, const std::set<std::string>& folded,
                      Verification& v) {
  double dot = 0, normA = 0, normB = 0, largest = 0;
  for (const auto& [name, ga] : gradsA)
    largest = std::max(largest, ga.norm().item<double>());
  for (const auto& [name, ga] : gradsA) {
    GradientCheck c;
    c.parameter = name;
    const double na = ga.norm().item<double>();
    c.relativeNorm = largest > 0 ? na / largest : 0;
    auto it = gradsB.find(name);
    if (it == gradsB.end()) {
      c.agreement = GradientAgreement::kMissing;
      c.note = "no gradient in the patched model (unused after the fold)";
      v.gradients.push_back(c);
      continue;
    }
    const auto& gb = it->second;
    const double nb = gb.norm().item<double>();
    c.cosine = na > 0 && nb > 0 ? (ga.dot(gb) / (na * nb)).item<double>() : (na == nb ? 1.0 : 0.0);
    c.relError = na > 0 ? (gb - ga).norm().item<double>() / na : (nb > 0 ? 1.0 : 0.0);
    if (folded.count(name)) {
      c.agreement = GradientAgreement::kReparameterised;
      c.note = "reparameterised by a fold";
      v.gradients.push_back(c);
      continue;
    }
    // Every directly comparable gradient belongs to the step's direction, however small.
    dot += ga.dot(gb).item<double>();
    normA += na * na;
    normB += nb * nb;
    if (na == 0 && nb == 0) {
      c.agreement = GradientAgreement::kBothZero;
      c.note = "both zero: agreement proves nothing";
    } else if (c.relativeNorm < kNearZeroGradient) {
      c.agreement = GradientAgreement::kNearZero;
      c.note = "near zero: under 1e-4 of the largest gradient, its cosine is rounding";
    } else {
      v.minCosine = std::min(v.minCosine, c.cosine);
      if (v.worstParameter.empty() || c.cosine < v.worstCosine) {
        v.worstParameter = name;
        v.worstCosine = c.cosine;
        v.worstRelativeNorm = c.relativeNorm;
      }
    }
    v.gradients.push_back(c);
  }
  sortWorstFirst(v.gradients);
  v.overallCosine = normA > 0 && normB > 0 ? dot / std::sqrt(normA * normB) : (normA == normB ? 1.0 : 0.0);
}

}  // namespace

Verification verifyPatch(torch::jit::Module& original, torch::jit::Module& patched,
                         const std::vector<c10::IValue>& inputs, const TrainableSelection& trainable,
                         const std::set<std::string>& folded, const ForwardCall& forward) {
  Verification v;
  // lowmem::attention drops with aten::dropout's samples here, so the patched model's dropout masks are the
  // original's, sample for sample, and its forward is compared exactly.
  const kernels::DropoutAsAten asAten;
  at::Tensor outA, outB, probe;
  const auto gradsA = runAndGrad(original, inputs, trainable, forward, outA, probe);
  const auto gradsB = runAndGrad(patched, inputs, trainable, forward, outB, probe);
  const auto a = outA.detach().to(at::kDouble);
  const auto b = outB.detach().to(at::kDouble);
  if (a.sizes() != b.sizes()) {
    v.toleranceRule = "output shapes differ: " + c10::str(a.sizes()) + " vs " + c10::str(b.sizes());
    return v;
  }
  v.maxAbsOutput = a.numel() ? a.abs().max().item<double>() : 0.0;
  v.maxAbsDiff = a.numel() ? (a - b).abs().max().item<double>() : 0.0;
  // Folds reorder a dot product's terms: rounding of the order of the dtype's epsilon times the output's
  // scale, times a small factor for the layers it passes through.
  const bool narrow = outA.scalar_type() == at::kBFloat16 || outA.scalar_type() == at::kHalf;
  const double rel = narrow ? 3e-2 : (outA.scalar_type() == at::kDouble ? 1e-9 : 1e-4);
  v.tolerance = rel * std::max(1.0, v.maxAbsOutput);
  v.toleranceRule = "max |patched - original| <= " + c10::str(rel) + " x max(1, max |original|)";
  v.forwardOk = std::isfinite(v.maxAbsDiff) && v.maxAbsDiff <= v.tolerance;
  compareGradients(gradsA, gradsB, folded, v);
  return v;
}

}  // namespace lowmem
