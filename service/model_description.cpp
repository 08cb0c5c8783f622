#include "service/model_description.h"

#include "patcher/site_finder.h"
#include "profiler/model_inspector.h"
#include "profiler/model_loader.h"

namespace lowmem {

ModelSummary describeModel(const std::string& path, const TrainableSelection& trainable) {
  auto module = loadModel(path);
  auto summary = inspectModel(module, path, trainable);
  summary.sites = findSwapSites(module);
  return summary;
}

}  // namespace lowmem
