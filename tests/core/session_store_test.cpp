// The session file: a run written and read back gives the same trace and the same analysis; every kind of bad
// file fails with one InputError naming it; a failed write leaves the previous runs intact.

#include "core/session_store.h"
#include "core/storage_tensors.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/peak_breakdown.h"

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
  t.moduleTypes = {{"", "Net"}, {"mlp", "MLP"}};
  // gelu returned its output in 0x2000; the backward node's gradient in 0x4000 (while alive: seq 12 >= 9).
  t.outputs = {{0, 0x2000, in.intern("[2,100]"), in.intern("float32")},
               {1, 0x4000, in.intern("[100]"), in.intern("float32")}};
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
  EXPECT_EQ(run.trace.moduleTypes, sampleTrace().moduleTypes);
  ASSERT_EQ(run.trace.outputs.size(), 2u);
  EXPECT_EQ(run.trace.str(run.trace.outputs[1].shape), "[100]");
  EXPECT_EQ(run.trace.outputs[1].addr, 0x4000u);
  EXPECT_EQ(run.trace.moduleType("mlp"), "MLP");
  EXPECT_EQ(run.trace.moduleType("nothing"), "");
  EXPECT_EQ(run.profile.peak().total, original.peak().total);
  EXPECT_EQ(run.profile.peak().total, 400 + 800 + 4 + 400 + 64);
  EXPECT_EQ(run.info.peakBytes, original.peak().total);
  EXPECT_EQ(run.profile.activationBytes, 800);
  ASSERT_EQ(run.profile.storages.size(), original.storages.size());
  for (size_t i = 0; i < original.storages.size(); ++i) {
    EXPECT_EQ(run.profile.storages[i].category, original.storages[i].category) << i;
    EXPECT_EQ(run.profile.reasonOf(run.profile.storages[i]), original.reasonOf(original.storages[i])) << i;
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

// Rows go to SQLite 64 to a statement: a trace of 3 full batches and a tail of every table must come back
// field for field, and the derived tables must hold every storage with its reason.
TEST_F(SessionStoreTest, ManyRowsRoundTripFieldForField) {
  Trace t;
  StringInterner in(t.strings);
  t.phases = {{Phase::kForward, 0, 0}, {Phase::kBackward, 300, 3000}, {Phase::kAfter, 1000, 10000}};
  for (int i = 0; i < 70; ++i) {
    const auto name = in.intern("aten::op" + std::to_string(i % 7));
    t.ops.push_back({name, OpScope::kFunction, i < 35 ? Phase::kForward : Phase::kBackward, i, in.intern("m"),
                     -1, int64_t{10} * i, int64_t{10} * i + 5, 100 * i, 100 * i + 50,
                     in.intern("[" + std::to_string(i) + "]")});
  }
  // 100 storages: allocated in order, freed 3 events later, so some straddle the backward boundary.
  for (int64_t i = 0; i < 100; ++i) {
    t.memory.push_back({6 * i + 1, 60 * i + 1, 0x10000 + static_cast<uint64_t>(i) * 64, 32 + i,
                        static_cast<int32_t>(i % 70), -1});
    t.memory.push_back({6 * i + 4, 60 * i + 4, 0x10000 + static_cast<uint64_t>(i) * 64, -(32 + i),
                        static_cast<int32_t>((i + 35) % 70), static_cast<int8_t>(i % 2 - 1)});
  }
  std::sort(t.memory.begin(), t.memory.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  for (int i = 0; i < 65; ++i)
    t.known.push_back({0x900000 + static_cast<uint64_t>(i) * 8, 8, KnownRole::kBuffer, in.intern("b"), true});
  const auto profile = analyseTrace(t);
  RunInfo info;
  info.label = "many";
  SessionWriter(path("many.db")).writeRun(info, t, profile);

  const auto run = SessionReader(path("many.db")).load("many");
  ASSERT_EQ(run.trace.strings, t.strings);
  ASSERT_EQ(run.trace.memory.size(), t.memory.size());
  for (size_t i = 0; i < t.memory.size(); ++i) {
    const auto &a = run.trace.memory[i], &b = t.memory[i];
    EXPECT_TRUE(a.seq == b.seq && a.timeNs == b.timeNs && a.addr == b.addr && a.bytes == b.bytes &&
                a.op == b.op && a.device == b.device)
        << "memory event " << i;
  }
  ASSERT_EQ(run.trace.ops.size(), t.ops.size());
  for (size_t i = 0; i < t.ops.size(); ++i) {
    const auto &a = run.trace.ops[i], &b = t.ops[i];
    EXPECT_TRUE(a.name == b.name && a.phase == b.phase && a.seqNr == b.seqNr && a.beginSeq == b.beginSeq &&
                a.endNs == b.endNs && a.inputShapes == b.inputShapes)
        << "op " << i;
  }
  EXPECT_EQ(run.trace.known.size(), t.known.size());
  EXPECT_EQ(run.profile.peak().total, profile.peak().total);
  EXPECT_EQ(run.profile.timeline.size(), profile.timeline.size());

  // Every storage is in the derived table, and its reason joins to the same text the analysis gave.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path("many.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT s.id, s.bytes, r.text FROM storages s JOIN reasons r "
                               "ON r.run = s.run AND r.id = s.reason ORDER BY s.id",
                               -1, &s, nullptr),
            SQLITE_OK);
  size_t rows = 0;
  while (sqlite3_step(s) == SQLITE_ROW) {
    const auto id = static_cast<size_t>(sqlite3_column_int64(s, 0));
    ASSERT_LT(id, profile.storages.size());
    EXPECT_EQ(sqlite3_column_int64(s, 1), profile.storages[id].bytes) << id;
    EXPECT_EQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 2)),
              profile.reasonOf(profile.storages[id]))
        << id;
    ++rows;
  }
  EXPECT_EQ(rows, profile.storages.size());
  EXPECT_EQ(rows, 165u);  // 65 buffers alive before the step and 100 allocations
  sqlite3_finalize(s);
  sqlite3_close(db);
}

// Schema 3 changed only the derived storages.reason: version-2 files still open (the raw tables are the same
// and the reader re-analyses them), but nothing is appended to them.
TEST_F(SessionStoreTest, SchemaTwoIsReadButNotAppended) {
  const auto file = writeSample("v2.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "UPDATE meta SET value='2' WHERE key='schema_version'", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  EXPECT_EQ(SessionReader(file).load("baseline").profile.peak().total,
            analyseTrace(sampleTrace()).peak().total);
  expectInputError([&] { SessionWriter w(file); }, file,
                   "schema version 2 is older than this lowmem appends to");
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

// Issue 19.2: a damaged or crafted session (each tampering below crashed, looped or printed nonsense before)
// is refused with the reason, naming the file, before the analysis indexes by anything.
TEST_F(SessionStoreTest, TamperedSessionsAreRefusedWithTheReason) {
  const auto good = writeSample("good.db");
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"UPDATE memory_events SET op = 40 WHERE seq = 2", "memory event 0 names op 40 of 2"},
      {"UPDATE ops SET parent = 7 WHERE id = 1", "op 1 names parent 7 of 1"},
      {"UPDATE ops SET parent = id", "op 0 names parent 0 of 0"},
      {"UPDATE ops SET parent = 1 - id", "op 0 names parent 1 of 0"},  // a two-op cycle
      {"UPDATE known_storages SET name = 99 WHERE role = 'parameter'", "known storage 0 names string 99"},
      {"DELETE FROM ops", "memory event 0 names op 0 of 0"},
      {"UPDATE known_storages SET bytes = -64000000 WHERE role = 'parameter'",
       "known storage 0 has an impossible size of -64000000 bytes"},
      {"UPDATE memory_events SET bytes = 4611686018427387904 WHERE seq = 2",
       "memory event 0 has an impossible size of 4611686018427387904 bytes"},
      {"UPDATE memory_events SET addr = 8192 WHERE seq = 9",
       "memory event 2 allocates an address that is already allocated"},
      {"UPDATE memory_events SET seq = 100 WHERE seq = 2", "memory event 1 is out of sequence order"},
      {"UPDATE runs SET spec_json = '" + deep.substr(0, 100) + "'", "step spec is nested deeper than 64"},
      {"UPDATE meta SET value = 'x; DROP' WHERE key = 'schema_version'",
       "corrupt session: schema version 'x; DROP'"},
  };
  int n = 0;
  for (const auto& [sql, why] : cases) {
    const auto file = path(("tampered-" + std::to_string(n++) + ".db").c_str());
    fs::copy_file(good, file, fs::copy_options::overwrite_existing);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sql;
    sqlite3_close(db);
    expectInputError([&] { SessionReader(file).load(""); }, file, why);
  }
  // A comparison record nested 200,000 levels deep: refused at the 65th, not walked.
  const auto file = path("deep.db");
  fs::copy_file(good, file, fs::copy_options::overwrite_existing);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* insert = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "INSERT INTO comparisons(baseline_run, patched_run, record) VALUES (1, 1, ?)",
                         -1, &insert, nullptr),
      SQLITE_OK);
  sqlite3_bind_text(insert, 1, deep.c_str(), static_cast<int>(deep.size()), SQLITE_STATIC);
  ASSERT_EQ(sqlite3_step(insert), SQLITE_DONE);
  sqlite3_finalize(insert);
  sqlite3_close(db);
  expectInputError([&] { SessionReader(file).comparisons(); }, file,
                   "corrupt session: a comparison record is nested deeper than 64 levels");
  EXPECT_EQ(SessionReader(file).load("").profile.peak().total, analyseTrace(sampleTrace()).peak().total);
}

// Issue 19.4: two writers creating one session at once both land: the one that finds the file created while
// it wrote appends to it instead of renaming over it (which lost a run).
TEST_F(SessionStoreTest, AWriterThatFindsTheSessionCreatedMeanwhileAppendsToIt) {
  const auto file = path("race.db");
  auto t = sampleTrace();
  const auto p = analyseTrace(t);
  bool first = true;
  writeToSession(file, [&](SessionWriter& w) {
    if (first) {
      first = false;
      // The other process finishes first, while this one writes its temporary.
      RunInfo other;
      other.label = "other";
      writeToSession(file, [&](SessionWriter& o) { o.writeRun(other, t, p); });
    }
    RunInfo mine;
    mine.label = "mine";
    w.writeRun(mine, t, p);
  });
  SessionReader r(file);
  std::vector<std::string> labels;
  for (const auto& run : r.runs())
    labels.push_back(run.label);
  EXPECT_EQ(labels, (std::vector<std::string>{"other", "mine"}));
  // No temporary left beside it.
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_))
    files += entry.path().filename().string().rfind(".race.db", 0) == 0;
  EXPECT_EQ(files, 0);
}

// Issue 19.5: several writes of one use case land together or not at all.
TEST_F(SessionStoreTest, WritesInOneTransactionLandTogetherOrNotAtAll) {
  const auto file = writeSample("tx.db");
  auto t = sampleTrace();
  const auto p = analyseTrace(t);
  SessionWriter w(file);
  RunInfo second;
  second.label = "second";
  RunInfo again;
  again.label = "baseline";  // taken: the second write fails, and the first must not stay
  expectInputError(
      [&] {
        w.inOneTransaction([&] {
          w.writeRun(second, t, p);
          w.writeRun(again, t, p);
        });
      },
      file, "already has a run labelled 'baseline'");
  EXPECT_EQ(SessionReader(file).runs().size(), 1u);
  w.inOneTransaction([&] { w.writeRun(second, t, p); });
  EXPECT_EQ(SessionReader(file).runs().size(), 2u);
}

// Issue 19.8: a writer killed during an append leaves a hot journal; readers roll it back and read the runs
// from before the append (a read-only connection failed with "attempt to write a readonly database").
TEST_F(SessionStoreTest, AnInterruptedAppendIsRolledBackByTheReader) {
  const auto good = writeSample("hot.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(good.c_str(), &db), SQLITE_OK);
  // A tiny page cache spills the transaction's pages into the file before commit, as a large append does.
  ASSERT_EQ(sqlite3_exec(db,
                         "PRAGMA cache_size=1; BEGIN IMMEDIATE; "
                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
                         "INSERT INTO strings(run, id, text) SELECT 1, 1000 + i, hex(randomblob(64)) FROM n;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  // The state a kill -9 leaves: the file with the spilled pages and its journal.
  const auto crashed = path("crashed.db");
  fs::copy_file(good, crashed);
  ASSERT_TRUE(fs::exists(good + "-journal"));
  fs::copy_file(good + "-journal", crashed + "-journal");
  sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  ASSERT_GT(fs::file_size(crashed), fs::file_size(good));
  SessionReader r(crashed);
  ASSERT_EQ(r.runs().size(), 1u);
  EXPECT_EQ(r.load("baseline").trace.strings, sampleTrace().strings);
  EXPECT_FALSE(fs::exists(crashed + "-journal") && fs::file_size(crashed + "-journal") > 0);
}

// Issue 19.10: a label that would move the terminal's cursor or clear the screen when printed is refused.
TEST_F(SessionStoreTest, ALabelWithControlCharactersIsRefused) {
  SessionWriter w(path("labels.db"));
  auto t = sampleTrace();
  RunInfo info;
  info.label = "base\x1b[2Jline";
  try {
    w.writeRun(info, t, analyseTrace(t));
    FAIL() << "a label with an escape sequence was stored";
  } catch (const SettingError& e) {
    EXPECT_EQ(e.setting(), "label");
    EXPECT_EQ(e.problem(), "'base\\x1b[2Jline' is empty or holds control characters");
  }
}

// A file written before module types, op outputs and plans gains them with its next write, and its old
// `modules` view is replaced; a write that is refused (a duplicate label) leaves the old file untouched.
TEST_F(SessionStoreTest, AnOlderFileGainsTheLaterTablesWithItsNextWriteOnly) {
  const auto file = writeSample("older.db");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "DROP VIEW storage_tensors; DROP VIEW modules; DROP TABLE module_types; DROP TABLE "
                         "op_outputs; DROP TABLE plans; CREATE VIEW modules AS SELECT module FROM storages",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const auto bytes = [&] {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const auto before = bytes();
  {
    SessionWriter w(file);
    auto t = sampleTrace();
    RunInfo info;
    info.label = "baseline";
    EXPECT_THROW(w.writeRun(info, t, analyseTrace(t)), InputError);
  }
  EXPECT_EQ(bytes(), before);
  EXPECT_TRUE(SessionReader(file).load("baseline").trace.moduleTypes.empty());  // read as it was
  {
    SessionWriter w(file);
    auto t = sampleTrace();
    RunInfo info;
    info.label = "again";
    w.writeRun(info, t, analyseTrace(t));
  }
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT type FROM modules WHERE label = 'again'", -1, &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "MLP");
  sqlite3_finalize(st);
  sqlite3_close(db);
  EXPECT_EQ(SessionReader(file).load("again").trace.moduleType("mlp"), "MLP");
}

// The SQL views answer docs/session-format.md's example questions with the analysis's own figures: the peak
// (1,668 bytes at seq 10, in backward: the parameter 400, gelu's output 800, the output 4, the gradient 400
// and the temporary 64 alive together) and what is alive at it, by category.
TEST_F(SessionStoreTest, QueryViewsAgreeWithTheAnalysis) {
  const auto file = writeSample("views.db");
  const auto t = sampleTrace();
  const auto p = analyseTrace(t);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  auto rows = [&](const std::string& sql) {
    std::vector<std::vector<std::string>> out;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db) << ": " << sql;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        const auto* text = sqlite3_column_text(st, c);
        row.push_back(text ? reinterpret_cast<const char*>(text) : "NULL");
      }
      out.push_back(row);
    }
    sqlite3_finalize(st);
    return out;
  };
  ASSERT_EQ(p.peak().total, 1668);
  EXPECT_EQ(rows("SELECT label, peak_bytes, seq, phase FROM peak"),
            (std::vector<std::vector<std::string>>{
                {"baseline", "1668", std::to_string(p.peak().seq), "backward"}}));
  // Question 1: what is alive at the peak, by category.
  std::vector<std::vector<std::string>> expected;
  for (const auto& [category, bytes] : peakBreakdown(t, p).byCategory)
    expected.push_back({category, std::to_string(bytes)});
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(
      rows("SELECT category, sum(bytes) FROM storages_at_peak WHERE label = 'baseline' GROUP BY category "
           "ORDER BY category"),
      expected);
  // Question 2: which backward nodes hold the most activation bytes, with the forward op and module.
  EXPECT_EQ(rows("SELECT holder_op, holder_forward_op, module, bytes FROM holders ORDER BY bytes DESC"),
            (std::vector<std::vector<std::string>>{{"GeluBackward0", "aten::gelu", "mlp", "800"}}));
  EXPECT_EQ(rows("SELECT module, type, parent, activation_bytes FROM modules"),
            (std::vector<std::vector<std::string>>{{"mlp", "MLP", "", "800"}}));
  // Shapes and dtypes: the view gives each storage the tensor storageTensors gives it.
  std::vector<std::vector<std::string>> tensors;
  const auto byStorage = storageTensors(t, p);
  for (size_t i = 0; i < byStorage.size(); ++i) {
    if (byStorage[i] < 0) continue;
    const auto& o = t.outputs[static_cast<size_t>(byStorage[i])];
    tensors.push_back({std::to_string(i), t.str(o.shape), t.str(o.dtype)});
  }
  EXPECT_EQ(tensors.size(), 2u);
  EXPECT_EQ(rows("SELECT storage, shape, dtype FROM storage_tensors ORDER BY storage"), tensors);
  EXPECT_EQ(
      rows("SELECT CASE WHEN instr(m, '.') = 0 THEN '' ELSE rtrim(rtrim(m, replace(m, '.', '')), '.') END "
           "FROM (SELECT 'encoder.layer_10.mlp.fc1' AS m)"),
      (std::vector<std::vector<std::string>>{{"encoder.layer_10.mlp"}}));
  sqlite3_close(db);
}

}  // namespace
}  // namespace lowmem
