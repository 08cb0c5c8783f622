#pragma once
// LibTorch's graph-executor optimisation flag is process-wide, and it decides more than the executor: a
// method's graph is optimized (inlined, constants propagated) or left raw at its first run, and the inliner
// splices in optimized or raw callee graphs by it. Everything that sets it for a while does so through this.

#include <torch/csrc/jit/runtime/graph_executor.h>

namespace lowmem {

// Sets the flag for the guard's scope and restores what it was.
class ExecutorModeGuard {
 public:
  explicit ExecutorModeGuard(bool optimize) : previous_(torch::jit::getGraphExecutorOptimize()) {
    torch::jit::setGraphExecutorOptimize(optimize);
  }
  ~ExecutorModeGuard() { torch::jit::setGraphExecutorOptimize(previous_); }
  ExecutorModeGuard(const ExecutorModeGuard&) = delete;
  ExecutorModeGuard& operator=(const ExecutorModeGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace lowmem
