#pragma once
// A --trainable selection that trains nothing is almost always a typo ("lroa") or a model saved frozen; a
// step would fail deep inside autograd ("element 0 of tensors does not require grad"). Said up front instead.

#include <torch/script.h>

#include "core/trainable.h"

namespace lowmem {

// SettingError("trainable") when a pattern or `lora` selects none of the module's parameters, naming an
// example parameter; with `stepNeedsOne`, also when `none` or the saved flags leave nothing to train.
void checkSelectsParameters(const torch::jit::Module& module, const TrainableSelection& selection,
                            bool stepNeedsOne);

}  // namespace lowmem
