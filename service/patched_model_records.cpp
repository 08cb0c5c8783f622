#include "service/patched_model_records.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <vector>

#include "core/error.h"
#include "core/model_attributes.h"
#include "core/step_spec.h"

namespace lowmem {
namespace {

void setStringAttribute(torch::jit::Module& module, const char* name, const std::string& value) {
  if (module.hasattr(name)) {
    module.setattr(name, value);
  } else {
    module.register_attribute(name, c10::StringType::get(), value);
  }
}

}  // namespace

std::string fileDigest(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot be read to compute its digest");
  const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw Error(ExitCode::kFailure, "OpenSSL cannot start a SHA-256 digest");
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buffer.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) throw InputError(path, "read failed while computing its digest");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  std::string out = "sha256:";
  char hex[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", digest[i]);
    out += hex;
  }
  return out;
}

std::optional<std::string> recordedBaseModel(const torch::jit::Module& module) {
  if (!module.hasattr(kBaseModelAttribute)) return std::nullopt;
  const auto value = module.attr(kBaseModelAttribute);
  if (!value.isString()) return std::nullopt;
  return value.toStringRef();
}

void recordBaseModel(torch::jit::Module& patched, const std::string& modelPath) {
  if (!recordedBaseModel(patched)) setStringAttribute(patched, kBaseModelAttribute, fileDigest(modelPath));
}

void checkPatchedFrom(const torch::jit::Module& patched, const std::string& patchedPath,
                      const std::string& modelPath) {
  const auto base = recordedBaseModel(patched);
  if (!base) {
    spdlog::warn(
        "{}: records no base model digest (patched by an older lowmem); cannot check it was patched "
        "from {}",
        patchedPath, modelPath);
    return;
  }
  const auto digest = fileDigest(modelPath);
  if (*base != digest) {
    throw InputError(patchedPath, "was patched from another model (" + base->substr(0, 19) +
                                      "...), not from " + modelPath + " (" + digest.substr(0, 19) + "...)");
  }
}

std::string retypeInputHint(torch::jit::Module& module, Dtype dtype) {
  if (!module.hasattr(kInputHintAttribute) || !module.attr(kInputHintAttribute).isString()) return "";
  auto spec = parseInputSpec(module.attr(kInputHintAttribute).toStringRef(), "recorded input spec");
  if (isFloating(spec.dtype)) spec.dtype = dtype;
  const auto hint = spec.text();
  setStringAttribute(module, kInputHintAttribute, hint);
  return hint;
}

}  // namespace lowmem
