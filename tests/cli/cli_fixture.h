#pragma once
// The fixture of the tests that drive the real `lowmem` binary: a scratch folder per suite, presets built
// once, and the contract every bad input must meet.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/run_process.h"

namespace lowmem {

inline testing::ProcessResult lowmemCli(std::vector<std::string> args) {
  args.insert(args.begin(), LOWMEM_BIN);
  return testing::runProcess(args);
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() / ("lowmem-cli-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  static std::string path(const std::string& name) { return (dir_ / name).string(); }

  // Builds a preset once per suite.
  static std::string built(const std::string& preset) {
    const auto p = path(preset + ".pt");
    if (!std::filesystem::exists(p)) {
      auto r = lowmemCli({"-q", "models", "build", preset, "-o", p});
      EXPECT_EQ(r.exitCode, 0) << r.err;
    }
    return p;
  }

  static nlohmann::json infoJson(const std::string& model, const std::string& trainable) {
    auto r = lowmemCli({"-q", "info", model, "--json", "--trainable", trainable});
    EXPECT_EQ(r.exitCode, 0) << r.err;
    return nlohmann::json::parse(r.out);
  }

  // stderr without the progress lines a command logs when stderr is not a terminal ("[info] 1.2 s: loading
  // model"), each of which must have that form, and without the note the sanitizer build's allocator prints
  // when it refuses a huge allocation (lowmem's own line follows it): what is left is what the command said
  // of its outcome.
  static std::string withoutProgress(const std::string& err) {
    static const std::regex progress(
        R"(\[info\] [0-9]+\.[0-9] s: [^\n]*|==[0-9]+==WARNING: AddressSanitizer failed to allocate [^\n]*)");
    std::string rest;
    std::istringstream lines(err);
    for (std::string line; std::getline(lines, line);) {
      if (!std::regex_match(line, progress)) rest += line + "\n";
    }
    return rest;
  }

  // The contract for every bad input: exit 2, one line on stderr besides progress, naming `subject` and
  // saying `problem`.
  static void expectBadInput(const testing::ProcessResult& r, const std::string& subject,
                             const std::string& problem) {
    const auto err = withoutProgress(r.err);
    EXPECT_EQ(r.exitCode, 2) << r.err;
    EXPECT_EQ(testing::lineCount(err), 1) << r.err;
    EXPECT_EQ(err.rfind("lowmem: ", 0), 0u) << r.err;
    EXPECT_NE(err.find(subject), std::string::npos) << r.err;
    EXPECT_NE(err.find(problem), std::string::npos) << r.err;
  }

  inline static std::filesystem::path dir_;
};

}  // namespace lowmem
