#pragma once
// Attributes lowmem stores on a TorchScript module's root, read back by every layer.

namespace lowmem {

// str: an example input spec recorded by the bundled models' builders, e.g. "x:float32[2,3,224,224]".
inline constexpr const char* kInputHintAttribute = "lowmem_input_hint";
// List[str]: the rewrites the patcher applied, so a model is never patched twice at the same site.
inline constexpr const char* kRewritesAttribute = "lowmem_rewrites";
// str: "sha256:HEX" of the unpatched model file a patched model descends from
// (service/patched_model_records.h).
inline constexpr const char* kBaseModelAttribute = "lowmem_base_model";

}  // namespace lowmem
