#pragma once
// What a patched model records about where it came from, beside its `lowmem_rewrites`: the SHA-256 of the
// unpatched model file it was patched from (kept through later patches), so `validate --patched` can refuse a
// model patched from another base; and, when `--dtype` cast it, an input hint in the dtype it now takes.

#include <torch/script.h>

#include <optional>
#include <string>

#include "core/step_choices.h"

namespace lowmem {

// "sha256:<64 hex digits>" of the file's bytes. InputError naming the file when it cannot be read.
std::string fileDigest(const std::string& path);

// Records `modelPath`'s digest on `patched`, loaded from that file, unless it already holds one: a model
// patched again keeps the digest of the unpatched file it descends from.
void recordBaseModel(torch::jit::Module& patched, const std::string& modelPath);

// The digest `module` records, if any.
std::optional<std::string> recordedBaseModel(const torch::jit::Module& module);

// InputError naming `patchedPath` when it records a base other than `modelPath`'s digest. A model patched by
// a lowmem that recorded no digest passes with a warning.
void checkPatchedFrom(const torch::jit::Module& patched, const std::string& patchedPath,
                      const std::string& modelPath);

// Rewrites the module's recorded input hint so its floating inputs are `dtype`, the dtype its parameters were
// cast to; returns the new hint ("" when the model records none).
std::string retypeInputHint(torch::jit::Module& module, Dtype dtype);

}  // namespace lowmem
