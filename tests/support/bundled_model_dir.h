#pragma once
// A per-process scratch folder for a test suite, with the bundled model presets built into it on first use.

#include <unistd.h>

#include <filesystem>
#include <string>

#include "models/presets.h"

namespace lowmem::testing {

class BundledModelDir {
 public:
  explicit BundledModelDir(const std::string& suite)
      : dir_(std::filesystem::temp_directory_path() / (suite + "-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir_);
  }
  ~BundledModelDir() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  BundledModelDir(const BundledModelDir&) = delete;
  BundledModelDir& operator=(const BundledModelDir&) = delete;

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  // PRESET.pt in the folder, built with default options the first time it is asked for.
  std::string built(const std::string& preset) const {
    const auto p = path(preset + ".pt");
    if (!std::filesystem::exists(p)) models::buildAndSave(models::findPreset(preset), {}, p);
    return p;
  }

 private:
  std::filesystem::path dir_;
};

}  // namespace lowmem::testing
