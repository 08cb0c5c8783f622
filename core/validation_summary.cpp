// The text `validate` prints and `report` shows for a validation record.

#include <cstdio>

#include "core/format.h"
#include "core/validation.h"

namespace lowmem {
namespace {

class Lines {
 public:
  explicit Lines(std::ostream& out) : out_(out) {}
  template <typename... Args>
  void operator()(const char* format, Args... args) {
    char line[768];
    const int n = std::snprintf(line, sizeof line, format, args...);
    out_.write(line, std::min<std::streamsize>(n, sizeof line - 1));
  }

 private:
  std::ostream& out_;
};

// Loss to 4 decimals; accuracy in percent to 2.
void writeComparison(Lines& put, const char* label, const NoiseComparison& c, bool percent, size_t seeds) {
  const double k = percent ? 100 : 1;
  const int d = percent ? 2 : 4;
  const char* u = percent ? "%" : "";
  put("%-11s original %.*f%s ± %.*f%s, patched %.*f%s ± %.*f%s (mean ± std over %zu seeds)\n", label, d,
      c.baselineMean * k, u, d, c.baselineStd * k, u, d, c.patchedMean * k, u, d, c.patchedStd * k, u, seeds);
  put("%-11s patched - original %+.*f%s; allowed %.*f%s = max(2 x seed std %.*f%s, floor %.*f%s)%s\n", "", d,
      c.meanDifference * k, u, d, c.allowed * k, u, d, c.seedSpread * k, u, d, c.floor * k, u,
      c.within ? "" : ": OUTSIDE");
}

// What one held-out loss is taken over: token tasks (next-token, next-byte) average a sequence's tokens.
const char* unitOf(const Validation& v) {
  return v.task.find("next-") != std::string::npos ? "sequence" : "example";
}

void writeHeldOut(Lines& put, const Validation& v) {
  const auto& first = v.seeds.front();
  put("held-out    %d %ss, measured at steps", first.units, unitOf(v));
  for (const auto& p : first.heldOut)
    put(" %d", p.step);
  put("\n");
  writeComparison(put, "loss", v.heldOutLoss, false, v.seeds.size());
  if (v.classifies) writeComparison(put, "accuracy", v.heldOutAccuracy, true, v.seeds.size());
  double b0 = 0, p0 = 0;
  for (const auto& s : v.seeds) {
    b0 += s.heldOut.front().baselineLoss;
    p0 += s.heldOut.front().patchedLoss;
  }
  const double k = static_cast<double>(v.seeds.size());
  put("learning    held-out loss %.4f -> %.4f (original), %.4f -> %.4f (patched), mean over seeds\n", b0 / k,
      v.heldOutLoss.baselineMean, p0 / k, v.heldOutLoss.patchedMean);
  put("floors      loss: 2 x the held-out mean's standard error (per-%s loss std / sqrt(n))%s%s\n", unitOf(v),
      v.tolerance > 0 ? ", at least --tolerance x the original's loss" : "",
      v.classifies ? "; accuracy: 2 x sqrt(p (1 - p) / n)" : "");
}

const char* verdictReason(const Validation& v) {
  if (v.seeds.empty()) {
    if (!v.baselineLearned) return "; the original did not learn: raise --steps or --lr";
    if (!v.patchedLearned) return "; the patched model did not learn";
    return "";
  }
  switch (v.outcome) {
    case ValidationOutcome::kInconclusive:
      return ": the original did not learn (its held-out loss fell by no more than the floor); raise --steps "
             "or --lr";
    case ValidationOutcome::kFail:
      if (!v.patchedLearned) return ": the patched model did not learn while the original did";
      return ": the patched model's held-out results differ from the original's by more than the noise";
    case ValidationOutcome::kPass:
      return ": held-out results within the seed-to-seed noise";
  }
  return "";
}

}  // namespace

void writeValidationSummary(const Validation& v, std::ostream& out) {
  if (v.steps.empty()) return;
  Lines put(out);
  const auto& first = v.steps.front();
  const auto& last = v.steps.back();
  put("task        %s\n", printable(v.task).c_str());
  put("patched     %zu sites, activation codes of %d bits\n", v.rewrites.size(), v.bits);
  if (!v.seeds.empty()) writeHeldOut(put, v);
  put("training    loss original %.4f -> %.4f, patched %.4f -> %.4f over %zu steps%s; final-%d-step ratio "
      "%.4f\n",
      first.baselineLoss, last.baselineLoss, first.patchedLoss, last.patchedLoss, v.steps.size(),
      v.seeds.size() > 1 ? " (first seed)" : "", v.window, v.lossRatio);
  put("gradients   cosine %.4f at step 1, %.4f mean, %.4f at worst\n", first.gradientCosine,
      meanGradientCosine(v), minGradientCosine(v));
  put("weights     relative divergence %.3g at the end\n", last.weightDivergence);
  if (v.seeds.empty()) {
    put("verdict     %s: final-%d-step mean loss ratio patched/original %.4f (|ratio - 1| <= %.3f%s)\n",
        v.passed ? "PASS" : "FAIL", v.window, v.lossRatio, v.tolerance, verdictReason(v));
  } else {
    put("verdict     %s%s\n", outcomeName(v.outcome), verdictReason(v));
  }
}

}  // namespace lowmem
