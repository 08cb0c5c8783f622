#include "profiler/model_loader.h"

#include <spdlog/spdlog.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"

namespace lowmem {
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& text, const char* part) {
  return text.find(part) != std::string::npos;
}

// Refuses what is surely not a TorchScript archive before LibTorch sees it.
void checkFile(const std::string& path) {
  std::error_code ec;
  auto status = fs::status(path, ec);
  if (ec || !fs::exists(status)) throw InputError(path, "no such file");
  if (fs::is_directory(status)) throw InputError(path, "is a directory, expected a TorchScript .pt file");
  if (!fs::is_regular_file(status)) throw InputError(path, "not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open for reading (permission denied?)");
  std::array<unsigned char, 4> magic{};
  in.read(reinterpret_cast<char*>(magic.data()), magic.size());
  const auto got = in.gcount();
  if (got == 0) throw InputError(path, "empty file");
  if (got >= 2 && magic[0] == 0x80 && magic[1] <= 5) {
    throw InputError(path,
                     "a legacy torch.save pickle, not a TorchScript archive; save the model with "
                     "torch.jit.script(model).save(path)");
  }
  if (got < 4 || magic[0] != 'P' || magic[1] != 'K') {
    throw InputError(path, "not a TorchScript archive (not a zip file)");
  }
}

}  // namespace

std::string explainLoadError(const std::string& message) {
  if (contains(message, "failed finding central directory") ||
      contains(message, "failed reading zip archive")) {
    return "truncated or corrupt TorchScript archive (" + firstLine(message) + ")";
  }
  if (contains(message, "constants.pkl") || contains(message, "code/")) {
    return "a torch.save archive (e.g. a state_dict), not a TorchScript module; save the model with "
           "torch.jit.script(model).save(path)";
  }
  if (contains(message, "Unknown builtin op: lowmem::")) {
    return "uses lowmem's memory-sharing ops but liblowmem_ops is not loaded (in Python: "
           "torch.ops.load_library(\"liblowmem_ops.so\") before torch.jit.load)";
  }
  if (contains(message, "Unknown builtin op") || contains(message, "Unknown type name")) {
    return "needs an op or class this LibTorch does not have (" + firstLine(message) + ")";
  }
  return "cannot load TorchScript module (" + firstLine(message) + ")";
}

namespace {

std::mutex loadsMutex;
std::map<std::string, int> loads;

}  // namespace

void saveModel(const torch::jit::Module& module, const std::string& path) {
  std::ostringstream bytes;
  try {
    module.save(bytes);
  } catch (const c10::Error& e) {
    throw InputError(path, "cannot serialise the model (" + firstLine(e.what_without_backtrace()) + ")");
  }
  writeBytes(path, bytes.str());
}

int modelLoads(const std::string& path) {
  std::lock_guard<std::mutex> lock(loadsMutex);
  const auto it = loads.find(path);
  return it == loads.end() ? 0 : it->second;
}

torch::jit::Module loadModel(const std::string& path) {
  checkFile(path);
  {
    std::lock_guard<std::mutex> lock(loadsMutex);
    ++loads[path];
  }
  torch::jit::Module module;
  try {
    module = torch::jit::load(path);
  } catch (const c10::Error& e) {
    throw InputError(path, explainLoadError(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw InputError(path, explainLoadError(e.what()));
  }
  if (!module.find_method("forward")) {
    throw InputError(path, "module '" + module.type()->name()->name() + "' has no forward method");
  }
  spdlog::debug("loaded {} ({})", path, module.type()->name()->qualifiedName());
  return module;
}

}  // namespace lowmem
