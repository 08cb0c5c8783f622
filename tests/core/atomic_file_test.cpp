#include "core/atomic_file.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace lowmem {
namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lowmem-atomic-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  size_t entries() const { return static_cast<size_t>(std::distance(fs::directory_iterator(dir_), {})); }

  fs::path dir_;
};

TEST_F(AtomicFileTest, WritesThroughATemporaryAndRenames) {
  const auto target = dir_ / "model.pt";
  std::string seenTmp;
  writeFileAtomically(target.string(), [&](const std::string& tmp) {
    seenTmp = tmp;
    EXPECT_NE(tmp, target.string());
    EXPECT_EQ(fs::path(tmp).parent_path(), target.parent_path());
    std::ofstream(tmp) << "new";
  });
  EXPECT_EQ(read(target), "new");
  EXPECT_FALSE(fs::exists(seenTmp));
  EXPECT_EQ(entries(), 1u);
}

TEST_F(AtomicFileTest, FailedVerificationKeepsTheOldFileAndLeavesNoTemporary) {
  const auto target = dir_ / "model.pt";
  std::ofstream(target) << "old";
  EXPECT_THROW(writeFileAtomically(
                   target.string(), [](const std::string& tmp) { std::ofstream(tmp) << "bad"; },
                   [&](const std::string&) { throw InputError(target.string(), "verification failed"); }),
               InputError);
  EXPECT_EQ(read(target), "old");
  EXPECT_EQ(entries(), 1u);
}

TEST_F(AtomicFileTest, WriterFailureBecomesAnInputErrorNamingTheTarget) {
  const auto target = dir_ / "model.pt";
  try {
    writeFileAtomically(target.string(),
                        [](const std::string&) { throw std::runtime_error("disk full\nmore"); });
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), target.string() + ": cannot write: disk full");
  }
  EXPECT_EQ(entries(), 0u);
}

TEST_F(AtomicFileTest, MissingDirectoryOrDirectoryTargetIsRefused) {
  EXPECT_THROW(writeFileAtomically((dir_ / "nope" / "m.pt").string(), [](const std::string&) {}), InputError);
  EXPECT_THROW(writeFileAtomically(dir_.string(), [](const std::string&) {}), InputError);
  std::ofstream(dir_ / "file") << "x";
  EXPECT_THROW(writeFileAtomically((dir_ / "file" / "m.pt").string(), [](const std::string&) {}), InputError);
}

}  // namespace lowmem
