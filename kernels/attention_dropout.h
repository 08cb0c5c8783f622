#pragma once
// How lowmem::attention draws its dropout mask. Training draws it from a Philox stream (one 64-bit seed from
// torch's CPU generator a call), which backward redraws instead of keeping the mask. A verifier comparing a
// patched model with its original, sample for sample, needs the mask aten::dropout would have drawn at the
// same point of the generator's stream: under DropoutAsAten the op draws exactly that (bernoulli_ on a tensor
// of the probabilities' shape) and keeps it for its backward. Thread-local; the op reads it when called.
// Python reaches it as torch.ops.lowmem.attention_dropout_as_aten(enabled) -> the previous setting.

namespace lowmem::kernels {

class DropoutAsAten {
 public:
  DropoutAsAten();
  ~DropoutAsAten();
  DropoutAsAten(const DropoutAsAten&) = delete;
  DropoutAsAten& operator=(const DropoutAsAten&) = delete;

 private:
  bool previous_;
};

bool dropoutAsAten();

// Sets this thread's choice; returns the previous one.
bool setDropoutAsAten(bool enabled);

}  // namespace lowmem::kernels
