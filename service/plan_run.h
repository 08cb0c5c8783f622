#pragma once
// `lowmem plan`: will the step fit? The model traced at a few small sizes (core/size_fit.h), its memory
// predicted at the sizes a user will train at, before and after the suggested swaps, and the largest batch
// that fits a budget, optionally with parameters, gradients and optimizer state sharded over N ranks.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/plan_report.h"
#include "core/size_fit.h"
#include "core/step_spec.h"
#include "core/suggestions.h"
#include "service/profile_run.h"

namespace lowmem {

struct PlanRequest {
  std::vector<int64_t> batches;     // sizes asked for; empty: the spec's batch
  std::vector<int64_t> seqs;        // token models' sequence lengths; empty: the spec's
  std::vector<int64_t> fitBatches;  // traced; empty: 2, 4, 8
  std::vector<int64_t> fitSeqs;     // traced; empty: 1/4, 1/2 and 3/4 of the spec's sequence length
  int64_t budgetBytes = 0;          // 0: no budget
  int shard = 1;                    // ranks that share parameters, gradients and optimizer state
  SwapSelection selection;
};

// InputError for sizes the model's inputs cannot take (a --seq for a model with no token input, an inputs
// file), for traces that cannot be aligned, and for a budget below what the step holds before it starts.
Plan planModel(const std::string& modelPath, const StepSpec& spec, const PlanRequest& request,
               const ProgressFn& progress = {});

}  // namespace lowmem
