#include "service/plan_run.h"

#include <algorithm>
#include <stdexcept>

#include "core/error.h"
#include "core/format.h"
#include "core/peak_breakdown.h"
#include "core/state_sharding.h"
#include "kernels/ops_library.h"
#include "profiler/model_loader.h"
#include "profiler/step_setup.h"
#include "service/module_runs.h"

namespace lowmem {
namespace {

void say(const ProgressFn& progress, const std::string& what) {
  if (progress) progress(what);
}

bool isTokenInput(const InputSpec& in) {
  return in.dtype == Dtype::kInt64 || in.dtype == Dtype::kInt32;
}

// The spec with every input's batch (dimension 0) and, for token inputs, sequence (dimension 1) set.
StepSpec resized(const StepSpec& spec, const std::vector<InputSpec>& inputs, const StepSize& size) {
  StepSpec s = spec;
  s.inputs = inputs;
  for (auto& in : s.inputs) {
    if (size.batch > 0) in.shape[0] = size.batch;
    if (size.seq > 0 && isTokenInput(in)) in.shape[1] = size.seq;
  }
  return s;
}

// Where the step's inputs say the sizes are: the batch of the first input, the sequence of the first token
// input; InputError when a dimension asked for does not exist.
StepSize specSize(const std::vector<InputSpec>& inputs, bool seqAsked, const std::string& modelPath) {
  StepSize size;
  for (const auto& in : inputs) {
    if (in.shape.empty())
      throw InputError(modelPath, "input '" + in.name + "' is a scalar: it has no batch dimension to vary");
    if (size.batch == 0) size.batch = in.shape[0];
    if (isTokenInput(in) && size.seq == 0 && in.shape.size() >= 2) size.seq = in.shape[1];
  }
  if (seqAsked && size.seq == 0) {
    throw SettingError("seq",
                       "the step's inputs (" + inputs.front().text() + (inputs.size() > 1 ? ", ..." : "") +
                           ") have no token input with a sequence dimension; --seq is for token models");
  }
  return size;
}

// Sequence lengths to fit, from the spec's own: a quarter, a half and three quarters of it. Lengths the model
// takes (rotary or position tables may allow no longer one), and not the spec's length itself, which may be
// the model's whole context: llama-tiny makes 894 allocation events at every length up to 48 and 896 at 64,
// its context, so a fit through 64 cannot align. A spec shorter than 8 fits on its length and two multiples.
std::vector<int64_t> sequencesFromSpec(int64_t seq) {
  if (seq < 8) return {seq, 2 * seq, 3 * seq};
  return {seq / 4, seq / 2, seq * 3 / 4};
}

std::vector<StepSize> tracedSizes(const PlanRequest& r, const StepSize& spec) {
  // Not batch 1: size-1 dimensions send ATen down other paths (views where copies were), so a step at batch 1
  // allocates differently from one at 2 (vit-tiny: 504 events against 526 at 2, 4 and 8). The batch has no
  // limit in the model, so its defaults do not depend on the spec.
  const std::vector<int64_t> fitB = r.fitBatches.empty() ? std::vector<int64_t>{2, 4, 8} : r.fitBatches;
  const std::vector<int64_t> fitS = r.fitSeqs.empty() ? sequencesFromSpec(spec.seq) : r.fitSeqs;
  const bool seq = !r.seqs.empty(), batch = !r.batches.empty() || !seq;
  std::vector<StepSize> out;
  if (batch && seq) {
    // Two batches at every traced sequence: enough for the five terms of c0 + c1 s + b (c2 + c3 s + c4 s²).
    for (size_t i = 0; i < std::min<size_t>(2, fitB.size()); ++i) {
      for (int64_t s : fitS)
        out.push_back({fitB[i], s});
    }
  } else if (seq) {
    for (int64_t s : fitS)
      out.push_back({spec.batch, s});
  } else {
    for (int64_t b : fitB)
      out.push_back({b, spec.seq});
  }
  return out;
}

struct Predicted {
  int64_t baselinePeak = 0;
  int64_t patchedPeak = 0;
  int64_t resident = 0;
  std::string peakAt;
  int chosenSites = 0;
};

class Predictor {
 public:
  Predictor(const SizeFit& fit, const std::vector<SitePlan>& plans, int elementBytes, const PlanRequest& r)
      : fit_(fit), plans_(plans), elementBytes_(elementBytes), request_(r) {}

  Predicted at(const StepSize& size, bool withSites = true) const {
    Trace t = fit_.at(size);
    Profile p = analyseTrace(t);
    if (request_.shard > 1) {
      t = shardedState(t, p, request_.shard);
      p = analyseTrace(t);
    }
    Predicted out;
    out.baselinePeak = p.peak().total;
    out.resident = p.baselineBytes;
    out.peakAt = peakMomentText(peakMoment(t, p), false);
    out.patchedPeak = out.baselinePeak;
    if (withSites) {
      const auto s = suggestSwaps(t, p, plans_, elementBytes_, request_.selection.only);
      out.patchedPeak = s.predictedPeak;
      for (const auto& site : s.sites)
        out.chosenSites += site.chosen;
    }
    return out;
  }

 private:
  const SizeFit& fit_;
  const std::vector<SitePlan>& plans_;
  int elementBytes_;
  const PlanRequest& request_;
};

// The largest size along one dimension whose peak (`patched`: with the swaps) is within the budget; 0 when 1
// is over it. Peaks grow with the size, so a doubling search then a bisection.
int64_t largestFitting(const Predictor& predictor, bool alongSeq, int64_t at, int64_t budget, bool patched) {
  const auto fits = [&](int64_t v) {
    // The baseline search needs no swap predictions (suggestSwaps is most of a prediction's cost).
    const auto p = predictor.at(alongSeq ? StepSize{at, v} : StepSize{v, at}, patched);
    return (patched ? p.patchedPeak : p.baselinePeak) <= budget;
  };
  if (!fits(1)) return 0;
  constexpr int64_t kMaxBatch = kPlanSearchLimit;
  int64_t good = 1, bad = 2;
  while (bad <= kMaxBatch && fits(bad)) {
    good = bad;
    bad *= 2;
  }
  if (bad > kMaxBatch) return good;
  while (bad - good > 1) {
    const int64_t mid = good + (bad - good) / 2;
    (fits(mid) ? good : bad) = mid;
  }
  return good;
}

// The chart's lines: peaks at about a dozen sizes from 1 to past the largest asked for (and past what the
// budget allows) along the batch, or along the sequence when only the sequence was fitted.
std::vector<PlanPoint> curve(const Predictor& predictor, const Plan& plan, const StepSize& asked,
                             bool alongSeq) {
  int64_t last = alongSeq ? asked.seq : asked.batch;
  for (const auto& c : plan.capacity)
    last = std::max(last, c.patched + 1);
  std::vector<PlanPoint> out;
  constexpr int kPoints = 12;
  int64_t previous = 0;
  for (int i = 0; i <= kPoints; ++i) {
    const int64_t v = std::max<int64_t>(1, (last * i + kPoints - 1) / kPoints);
    if (v == previous) continue;
    previous = v;
    const StepSize size = alongSeq ? StepSize{asked.batch, v} : StepSize{v, asked.seq};
    const auto p = predictor.at(size);
    out.push_back({size, p.baselinePeak, p.patchedPeak, p.resident, p.peakAt});
  }
  return out;
}

std::vector<std::string> assumptions(const PlanRequest& r) {
  std::vector<std::string> out = {
      "the traced step's ops allocate alike at every size (checked at the traced sizes: the events align)"};
  if (r.shard > 1) {
    out.push_back(
        "ZeRO-3/FSDP-style sharding over " + std::to_string(r.shard) + " ranks: each keeps 1/" +
        std::to_string(r.shard) +
        " of the parameters, gradients and optimizer state; activations, inputs and temporaries whole; "
        "the all-gathered layer in flight and communication buffers not counted");
  }
  return out;
}

}  // namespace

namespace {

void checkRequest(const PlanRequest& request) {
  if (request.shard < 1)
    throw SettingError("shard", "must be 1 or more ranks, not " + std::to_string(request.shard));
  const std::pair<const char*, const std::vector<int64_t>*> lists[] = {{"batch", &request.batches},
                                                                       {"seq", &request.seqs},
                                                                       {"fit-batch", &request.fitBatches},
                                                                       {"fit-seq", &request.fitSeqs}};
  for (const auto& [setting, list] : lists) {
    for (int64_t v : *list) {
      if (v < 1 || v > (int64_t{1} << 24))
        throw SettingError(setting, "sizes are 1 to 16777216, not " + std::to_string(v));
    }
  }
  request.selection.validate();
}

// The step traced at each of the fit's sizes, fitted; each traced size's measured peak into `plan`.
SizeFit traceAndFit(torch::jit::Module& module, const std::string& modelPath, const StepSpec& spec,
                    const std::vector<InputSpec>& inputs, const std::vector<StepSize>& sizes, Plan& plan,
                    const ProgressFn& progress) {
  std::vector<std::pair<StepSize, Trace>> traced;
  for (const auto& size : sizes) {
    say(progress, "tracing " + stepSizeText(size));
    SessionRun run;
    try {
      run = profileLoadedModel(module, modelPath, resized(spec, inputs, size), stepSizeText(size));
    } catch (const SettingError&) {
      throw;
    } catch (const Error& e) {
      // Which traced size failed: a model with a fixed context fails at a sequence it cannot take.
      throw Error(e.exitCode(),
                  modelPath + " at " + stepSizeText(size) + " (a size traced for the fit): " + e.what());
    }
    plan.traced.push_back({size, run.profile.peak().total, 0});
    traced.emplace_back(size, std::move(run.trace));
  }
  say(progress, "fitting");
  try {
    SizeFit fit(std::move(traced));
    plan.terms = fit.terms();
    plan.worstResidualBytes = fit.worstResidualBytes();
    for (auto& t : plan.traced)
      t.fittedPeak = analyseTrace(fit.at(t.size)).peak().total;
    return fit;
  } catch (const std::invalid_argument& e) {
    throw InputError(modelPath, std::string("cannot plan: ") + e.what());
  }
}

// The largest batch (or sequence) under the budget at each of the other dimension's sizes.
void fillCapacity(const Predictor& predictor, const PlanRequest& request, const StepSize& base,
                  const std::vector<int64_t>& seqs, bool alongSeq, Plan& plan, const ProgressFn& progress) {
  const StepSize smallest = alongSeq ? StepSize{base.batch, 1} : StepSize{1, seqs.front()};
  const auto atOne = predictor.at(smallest, false);
  if (atOne.resident > request.budgetBytes) {
    throw SettingError("budget", formatBytes(request.budgetBytes) +
                                     " is below what the step holds before it starts (" +
                                     formatBytes(atOne.resident) + " at " + stepSizeText(smallest) +
                                     ": parameters, optimizer state, inputs)");
  }
  for (int64_t at : alongSeq ? std::vector<int64_t>{base.batch} : seqs) {
    say(progress, alongSeq ? "searching the largest sequence" : "searching the largest batch");
    plan.capacity.push_back({alongSeq, at,
                             largestFitting(predictor, alongSeq, at, request.budgetBytes, false),
                             largestFitting(predictor, alongSeq, at, request.budgetBytes, true)});
  }
}

}  // namespace

Plan planModel(const std::string& modelPath, const StepSpec& spec, const PlanRequest& request,
               const ProgressFn& progress) {
  checkRequest(request);
  kernels::ensureOpsRegistered();
  say(progress, "loading model");
  auto module = loadModel(modelPath);
  placeModule(module, spec);
  const auto inputs = inputSpecsOf(module, modelPath, spec);
  const StepSize base = specSize(inputs, !request.seqs.empty(), modelPath);
  Plan plan;
  plan.modelPath = modelPath;
  plan.budgetBytes = request.budgetBytes;
  plan.shard = request.shard;
  plan.assumptions = assumptions(request);
  say(progress, "planning sites");
  auto plans = sitePlansFor(module, spec);
  for (auto& p : plans)
    p.bits = request.selection.bits;
  // An attention's prediction reads its tensors' sizes and storages from the trace (as `suggest` records
  // them).
  StepSpec traced = spec;
  traced.recordShapes = traced.recordShapes || anyValidAttention(plans);
  const SizeFit fit =
      traceAndFit(module, modelPath, traced, inputs, tracedSizes(request, base), plan, progress);

  const Predictor predictor(fit, plans, elementBytesOf(module), request);
  const std::vector<int64_t> batches =
      request.batches.empty() ? std::vector<int64_t>{base.batch} : request.batches;
  const std::vector<int64_t> seqs = request.seqs.empty() ? std::vector<int64_t>{base.seq} : request.seqs;
  const bool alongSeq = request.batches.empty() && !request.seqs.empty();
  try {
    for (int64_t s : seqs) {
      for (int64_t b : batches) {
        say(progress, "predicting " + stepSizeText({b, s}));
        const auto p = predictor.at({b, s});
        plan.chosenSites = std::max(plan.chosenSites, p.chosenSites);
        plan.points.push_back({{b, s}, p.baselinePeak, p.patchedPeak, p.resident, p.peakAt});
      }
    }
    if (request.budgetBytes > 0) fillCapacity(predictor, request, base, seqs, alongSeq, plan, progress);
    say(progress, "drawing the curve");
    plan.curve = curve(
        predictor, plan,
        {*std::max_element(batches.begin(), batches.end()), *std::max_element(seqs.begin(), seqs.end())},
        alongSeq);
  } catch (const std::invalid_argument& e) {
    throw InputError(modelPath, std::string("cannot plan: ") + e.what());
  }
  return plan;
}

}  // namespace lowmem
