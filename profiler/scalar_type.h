#pragma once
// The core's Dtype as LibTorch's ScalarType and back: the one map between the names a user writes and the
// types tensors have.

#include <c10/core/ScalarType.h>

#include <optional>

#include "core/step_choices.h"

namespace lowmem {

c10::ScalarType scalarTypeOf(Dtype dtype);

// None for a scalar type no step spec can name (complex, quantized, ...).
std::optional<Dtype> dtypeOf(c10::ScalarType type);

}  // namespace lowmem
