#pragma once
// What lowmem::attention in place of an explicit attention chain does to a measured step: the storages the
// chain made and its backward kept (the probabilities, scaled copies, matmul's contiguous copies) go when the
// forward ends; q, k, v, the additive mask and the output are kept by the op until its backward ends; a
// log-sum-exp row (fp32) is added. Needs the trace's shapes and argument storages.

#include "core/peak_prediction.h"

namespace lowmem {

// `occurrence`: the site's index among the attention sites of its module (forward order).
SiteEffect attentionEffect(const Trace& trace, const Profile& profile, const SitePlan& plan, int occurrence);

}  // namespace lowmem
