#pragma once
// What `lowmem validate` trains both models on, and the held-out set it measures them against: a synthetic
// task fitted to the model's output, Fashion-MNIST, a byte-level text corpus, or the user's batches.

#include <torch/script.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/step_spec.h"

namespace lowmem {

struct TaskBatch {
  std::vector<c10::IValue> inputs;
  at::Tensor target;  // what the loss compares the model's first output against
};

class ValidationTask {
 public:
  enum class Loss {
    kClassify,   // logits [B, K] against class indices [B]
    kNextToken,  // logits [B, S, V] against the inputs shifted by one
    kMse,        // floats of the output's size
    kIndices,    // logits with one more dimension than the class indices (the user's data)
  };
  virtual ~ValidationTask() = default;

  const std::string& name() const { return name_; }
  // Accuracy is measured on the held-out set (logits [B, K] against class indices).
  bool classifies() const { return loss_ == Loss::kClassify; }
  // The training batches' order (and draws) for one seed's run; the held-out set does not change.
  virtual void reseed(uint64_t seed) = 0;
  virtual TaskBatch next() = 0;
  const std::vector<TaskBatch>& heldOut() const { return heldOut_; }

  // The mean loss the step trains on, in float32.
  at::Tensor loss(const at::Tensor& out, const at::Tensor& target) const;
  // One loss per unit of the held-out measure (an example; a sequence for token tasks), float64.
  at::Tensor unitLosses(const at::Tensor& out, const at::Tensor& target) const;
  // Units classified right (classification only).
  int64_t correct(const at::Tensor& out, const at::Tensor& target) const;

 protected:
  // InputError naming the data when the user's target fits neither loss against the output.
  void checkFits(const at::Tensor& out, const at::Tensor& target) const;

  std::string name_;
  Loss loss_ = Loss::kMse;
  std::vector<TaskBatch> heldOut_;
  std::string source_;  // the data file, for errors
};

struct TaskRequest {
  // "" (the real data set the model takes, else synthetic), "synthetic", "fashion-mnist", "text", or a
  // torch.save'd file of batches
  std::string data;
  // 0: the data's default (2,000 images, 256 sequences, 128 synthetic examples or 8 batches), cut to what
  // costs about as much as the training (steps, held-out points) when those are given
  int heldOutUnits = 0;
  int steps = 0, heldOutPoints = 0;
  std::vector<c10::IValue> example;  // the step's inputs: their shapes fix the batch
  at::Tensor output;                 // the model's first output on them
};

// InputError naming the data (file or set) when it does not fit the model.
std::unique_ptr<ValidationTask> makeValidationTask(const TaskRequest& request,
                                                   const torch::jit::Module& module, const StepSpec& spec);

}  // namespace lowmem
