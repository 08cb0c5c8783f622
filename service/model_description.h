#pragma once
// What `lowmem info` and the GUI's model page show: load, inspect, find sites, in one call.

#include <string>

#include "core/model_summary.h"
#include "core/trainable.h"

namespace lowmem {

ModelSummary describeModel(const std::string& path, const TrainableSelection& trainable);

}  // namespace lowmem
