#pragma once
// Memory at sizes that were not traced: one step spec traced at a few small sizes, its traces aligned event
// by event (the same ops allocate and free in the same order at every size), and every event's bytes fitted
// as
//   bytes = c0 + c1·s + b·(c2 + c3·s + c4·s²)        (b: batch, s: sequence length)
// over the terms the traced sizes can tell apart. The template trace with each event's predicted bytes is a
// trace of the step at the new size: the analysis, the swap predictions and the peak run on it unchanged, so
// the peak is found on the whole predicted timeline (it can move between phases as sizes grow).

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/trace.h"

namespace lowmem {

// Batch: dimension 0 of every input; seq: dimension 1 of token inputs; 0 where it does not apply.
struct StepSize {
  int64_t batch = 0;
  int64_t seq = 0;
  bool operator==(const StepSize& o) const { return batch == o.batch && seq == o.seq; }
};
std::string stepSizeText(const StepSize& size);  // "batch 4", "seq 128", "batch 2, seq 128"

class SizeFit {
 public:
  // std::invalid_argument (the reason, one line) when the traces do not align, or when their sizes cannot
  // determine the terms the fit needs.
  explicit SizeFit(std::vector<std::pair<StepSize, Trace>> traced);

  // The step at `size`: the template trace with every memory event's and known storage's bytes predicted.
  // std::invalid_argument when the traced sizes cannot tell how bytes grow along the asked dimension (all
  // traced at one batch, a different batch asked for).
  Trace at(const StepSize& size) const;

  const std::vector<std::string>& terms() const { return terms_; }
  // The largest miss of the fit at a traced size, in bytes: 0 when every event's bytes follow the terms
  // exactly (more traced sizes than terms make this a check, not a tautology).
  int64_t worstResidualBytes() const { return worstResidual_; }
  const std::vector<StepSize>& tracedSizes() const { return sizes_; }

 private:
  std::vector<double> predict(const StepSize& size) const;  // per fitted value

  std::vector<StepSize> sizes_;
  Trace template_;
  std::vector<std::string> terms_;
  bool batchVaries_ = false;
  bool seqVaries_ = false;
  // Fitted values: each allocation event's bytes, then each known storage's; coefficients per term.
  std::vector<size_t> allocEvents_;
  std::vector<std::vector<double>> coef_;
  int64_t worstResidual_ = 0;
};

}  // namespace lowmem
