// The session file: a run written and read back gives the same trace and the same analysis; every kind of bad
// file fails with one InputError naming it; a failed write leaves the previous runs intact.

#include "core/session_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace lowmem {
namespace {

namespace fs = std::filesystem;

// A small trace: an activation held by a backward node, a temporary, a parameter and a gradient.
Trace sampleTrace() {
  Trace t;
  StringInterner in(t.strings);
  t.known.push_back({0x1000, 400, KnownRole::kParameter, in.intern("w"), true});
  t.phases = {
      {Phase::kForward, 0, 0}, {Phase::kLoss, 5, 50}, {Phase::kBackward, 7, 70}, {Phase::kAfter, 14, 140}};
  OpEvent fwd{
      in.intern("aten::gelu"), OpScope::kFunction, Phase::kForward, 3, in.intern("mlp"), -1, 1, 4, 10, 40};
  OpEvent bwd{in.intern("GeluBackward0"), OpScope::kBackward, Phase::kBackward, 3, 0, -1, 8, 12, 80, 120};
  t.ops = {fwd, bwd};
  t.memory = {{2, 20, 0x2000, 800, 0, -1},  {6, 60, 0x3000, 4, -1, -1},    {9, 90, 0x4000, 400, 1, -1},
              {10, 100, 0x5000, 64, 1, -1}, {11, 110, 0x5000, -64, 1, -1}, {13, 130, 0x2000, -800, -1, -1}};
  t.known.push_back({0x4000, 400, KnownRole::kGradient, in.intern("w.grad"), false});
  return t;
}

class SessionStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("lowmem-session-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }

  std::string writeSample(const char* name) {
    SessionWriter w(path(name));
    auto t = sampleTrace();
    RunInfo info;
    info.label = "baseline";
    info.modelPath = "m.pt";
    info.backend = "cpu";
    w.writeRun(info, t, analyseTrace(t));
    return path(name);
  }

  static void expectInputError(const std::function<void()>& f, const std::string& subject,
                               const std::string& what) {
    try {
      f();
      FAIL() << "expected InputError";
    } catch (const InputError& e) {
      const std::string m = e.what();
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
      EXPECT_NE(m.find(subject), std::string::npos) << m;
      EXPECT_NE(m.find(what), std::string::npos) << m;
    }
  }

  fs::path dir_;
};

TEST_F(SessionStoreTest, RoundTripGivesTheSameAnalysis) {
  const auto file = writeSample("s.db");
  SessionReader r(file);
  auto runs = r.runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].label, "baseline");
  auto run = r.load("baseline");
  const auto original = analyseTrace(sampleTrace());
  EXPECT_EQ(run.trace.memory.size(), 6u);
  EXPECT_EQ(run.trace.strings, sampleTrace().strings);
  EXPECT_EQ(run.profile.peak().total, original.peak().total);
  EXPECT_EQ(run.profile.peak().total, 400 + 800 + 4 + 400 + 64);
  EXPECT_EQ(run.info.peakBytes, original.peak().total);
  EXPECT_EQ(run.profile.activationBytes, 800);
  ASSERT_EQ(run.profile.storages.size(), original.storages.size());
  for (size_t i = 0; i < original.storages.size(); ++i) {
    EXPECT_EQ(run.profile.storages[i].category, original.storages[i].category) << i;
    EXPECT_EQ(run.profile.storages[i].reason, original.storages[i].reason) << i;
    EXPECT_EQ(run.profile.storages[i].holderOp, original.storages[i].holderOp) << i;
  }
  // The derived table is there for sqlite3 users.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "SELECT sum(bytes) FROM storages WHERE category = 'activation'", -1, &s, nullptr);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int64(s, 0), 800);
  sqlite3_finalize(s);
  sqlite3_close(db);
}

TEST_F(SessionStoreTest, SecondRunAppendsAndDuplicateLabelIsRefusedWithoutDamage) {
  const auto file = writeSample("s.db");
  SessionWriter w(file);
  auto t = sampleTrace();
  RunInfo info;
  info.label = "patched";
  w.writeRun(info, t, analyseTrace(t));
  info.label = "baseline";
  expectInputError([&] { w.writeRun(info, t, analyseTrace(t)); }, file,
                   "already has a run labelled 'baseline'");
  SessionReader r(file);
  EXPECT_EQ(r.runs().size(), 2u);
  EXPECT_EQ(r.load("patched").trace.memory.size(), 6u);
  expectInputError([&] { r.load("nope"); }, file, "no run labelled 'nope' (runs: baseline, patched)");
}

TEST_F(SessionStoreTest, BadFilesFailCleanly) {
  expectInputError([&] { SessionReader r(path("missing.db")); }, path("missing.db"), "no such file");
  std::ofstream(path("empty.db")).close();
  expectInputError([&] { SessionReader r(path("empty.db")); }, path("empty.db"), "empty file");
  std::ofstream(path("text.db")) << "this is not a database at all, just some text that is long enough\n";
  expectInputError([&] { SessionReader r(path("text.db")); }, path("text.db"), "");

  // Truncated: half of a real session.
  const auto good = writeSample("good.db");
  const auto size = fs::file_size(good);
  fs::copy_file(good, path("trunc.db"));
  fs::resize_file(path("trunc.db"), size / 2);
  expectInputError([&] { SessionReader(path("trunc.db")).load(""); }, path("trunc.db"), "");

  // Newer schema.
  fs::copy_file(good, path("newer.db"));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path("newer.db").c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "UPDATE meta SET value='99' WHERE key='schema_version'", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  expectInputError([&] { SessionReader r(path("newer.db")); }, path("newer.db"),
                   "schema version 99 is newer");

  // Older schema (version 1 had no ops.input_shapes): refused with what to do, for reading and appending.
  fs::copy_file(good, path("older.db"));
  ASSERT_EQ(sqlite3_open(path("older.db").c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "UPDATE meta SET value='1' WHERE key='schema_version'", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  expectInputError([&] { SessionReader r(path("older.db")); }, path("older.db"), "profile the model again");
  expectInputError([&] { SessionWriter w(path("older.db")); }, path("older.db"), "schema version 1 is older");

  // A SQLite file that is not a lowmem session.
  ASSERT_EQ(sqlite3_open(path("other.db").c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  expectInputError([&] { SessionReader r(path("other.db")); }, path("other.db"), "not a lowmem session");
  expectInputError([&] { SessionWriter w(path("other.db")); }, path("other.db"), "not a lowmem session");
}

}  // namespace
}  // namespace lowmem
