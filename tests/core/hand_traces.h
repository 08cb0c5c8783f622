#pragma once
// Traces built by hand for core's unit tests, each event placed so its storage's fate is known without
// running a model.

#include "core/site_plan.h"
#include "core/trace.h"

namespace lowmem::testing {

// One LayerNorm site feeding a linear: the norm's input (kept by its backward), its output (freed in forward:
// the linear keeps only its own), the linear's output (kept by AddmmBackward0), a temporary and the gradient
// passed on inside the norm's backward, and gamma's gradient (known at the end).
inline constexpr uint64_t kInput = 0x1000, kOutput = 0x2000, kLinear = 0x3000, kTemp = 0x4000,
                          kGradIn = 0x5000, kGamma = 0x6000;

inline Trace normSiteTrace() {
  Trace t;
  StringInterner in(t.strings);
  t.phases = {{Phase::kForward, 0, 0},
              {Phase::kLoss, 10, 100},
              {Phase::kBackward, 15, 150},
              {Phase::kAfter, 40, 400}};
  const auto fn = OpScope::kFunction;
  t.ops = {
      // name, scope, phase, seqNr, module, parent, beginSeq, endSeq, beginNs, endNs
      {in.intern("aten::layer_norm"), fn, Phase::kForward, 5, in.intern("norm"), -1, 1, 4, 10, 40},
      {in.intern("aten::linear"), fn, Phase::kForward, 6, in.intern("lin"), -1, 5, 8, 50, 80},
      {in.intern("AddmmBackward0"), OpScope::kBackward, Phase::kBackward, 6, 0, -1, 16, 19, 160, 190},
      {in.intern("NativeLayerNormBackward0"), OpScope::kBackward, Phase::kBackward, 5, 0, -1, 20, 30, 200,
       300},
      {in.intern("aten::native_layer_norm_backward"), fn, Phase::kBackward, -1, 0, 3, 21, 29, 210, 290},
  };
  // seq, time, addr, bytes, innermost op
  t.memory = {
      {0, 0, kInput, 400, -1, -1},    {2, 20, kOutput, 400, 0, -1},     {6, 60, kLinear, 40, 1, -1},
      {9, 90, kOutput, -400, -1, -1}, {18, 180, kLinear, -40, 2, -1},   {22, 220, kTemp, 1000, 4, -1},
      {23, 230, kGradIn, 400, 4, -1}, {24, 240, kTemp, -1000, 4, -1},   {26, 260, kInput, -400, 4, -1},
      {27, 270, kGamma, 400, 4, -1},  {35, 350, kGradIn, -400, -1, -1},
  };
  t.known.push_back({kGamma, 400, KnownRole::kGradient, in.intern("norm.weight.grad"), false});
  return t;
}

// The norm with gamma folded into the linear.
inline SitePlan foldedNorm() {
  SitePlan plan;
  plan.site.kind = SiteKind::kLayerNorm;
  plan.site.modulePath = "norm";
  plan.valid = true;
  plan.gamma = "norm.weight";
  plan.normalizedSize = 100;
  FoldTarget f;
  f.weight = "lin.weight";
  f.bias = "lin.bias";
  plan.folds.push_back(f);
  return plan;
}

}  // namespace lowmem::testing
