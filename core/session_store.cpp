#include "core/session_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/atomic_file.h"
#include "core/bounded_json.h"
#include "core/error.h"
#include "core/format.h"
#include "core/large_vector.h"
#include "core/trace_check.h"

namespace lowmem {
namespace {

// The largest JSON record a session holds (suggestions for thousands of sites are a few MiB).
constexpr size_t kMaxRecordBytes = size_t{64} << 20;

const char* kSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs(
  id INTEGER PRIMARY KEY, label TEXT NOT NULL UNIQUE, model_path TEXT, spec_json TEXT, backend TEXT,
  executor_mode TEXT, device_tracing TEXT, dropped_device_records INTEGER, threads INTEGER, step_seconds REAL, peak_bytes INTEGER, baseline_bytes INTEGER,
  activation_bytes INTEGER, events INTEGER, created TEXT DEFAULT (datetime('now')));
CREATE TABLE strings(run INTEGER NOT NULL, id INTEGER NOT NULL, text TEXT NOT NULL, PRIMARY KEY(run, id))
  WITHOUT ROWID;
CREATE TABLE memory_events(run INTEGER NOT NULL, seq INTEGER NOT NULL, time_ns INTEGER, addr INTEGER,
  bytes INTEGER, op INTEGER, device INTEGER);
CREATE INDEX memory_events_run_time ON memory_events(run, time_ns);
CREATE TABLE ops(run INTEGER NOT NULL, id INTEGER NOT NULL, name INTEGER, scope TEXT, phase TEXT, seq_nr INTEGER,
  module INTEGER, parent INTEGER, begin_seq INTEGER, end_seq INTEGER, begin_ns INTEGER, end_ns INTEGER,
  input_shapes INTEGER, PRIMARY KEY(run, id)) WITHOUT ROWID;
CREATE INDEX ops_run_time ON ops(run, begin_ns);
CREATE TABLE phases(run INTEGER NOT NULL, phase TEXT, seq INTEGER, time_ns INTEGER);
CREATE TABLE known_storages(run INTEGER NOT NULL, addr INTEGER, bytes INTEGER, role TEXT, name INTEGER,
  preexisting INTEGER);
CREATE TABLE device_activities(run INTEGER NOT NULL, kind TEXT, name INTEGER, start_ns INTEGER, end_ns INTEGER,
  bytes INTEGER, op INTEGER);
CREATE TABLE storages(run INTEGER NOT NULL, id INTEGER NOT NULL, addr INTEGER, bytes INTEGER, alloc_seq INTEGER,
  free_seq INTEGER, alloc_phase TEXT, free_phase TEXT, category TEXT, reason INTEGER, alloc_op TEXT, holder_op TEXT,
  holder_forward_op TEXT, module TEXT, PRIMARY KEY(run, id)) WITHOUT ROWID;
CREATE INDEX storages_run_time ON storages(run, alloc_seq);
CREATE TABLE reasons(run INTEGER NOT NULL, id INTEGER NOT NULL, text TEXT NOT NULL, PRIMARY KEY(run, id))
  WITHOUT ROWID;
CREATE TABLE comparisons(id INTEGER PRIMARY KEY, baseline_run INTEGER NOT NULL, patched_run INTEGER NOT NULL,
  record TEXT NOT NULL, created TEXT DEFAULT (datetime('now')));
)sql";

// Added after schema 3 was fixed: created by every writer (old files gain them on append); a reader of a
// file without them finds no module types and no op outputs.
const char* kLaterTables = R"sql(
CREATE TABLE IF NOT EXISTS module_types(run INTEGER NOT NULL, path TEXT NOT NULL, type TEXT NOT NULL,
  PRIMARY KEY(run, path)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS op_outputs(run INTEGER NOT NULL, op INTEGER NOT NULL, addr INTEGER,
  shape INTEGER, dtype INTEGER);
CREATE INDEX IF NOT EXISTS op_outputs_run_addr ON op_outputs(run, addr);
CREATE TABLE IF NOT EXISTS plans(id INTEGER PRIMARY KEY, model_path TEXT, record TEXT NOT NULL,
  created TEXT DEFAULT (datetime('now')));
)sql";

// Views for questions users ask of a session in SQL (docs/session-format.md). Derived from `storages`, so a
// view's peak is the analysis's peak by construction; created by every writer, old files gain them on append.
const char* kQueryViews = R"sql(
CREATE VIEW IF NOT EXISTS storage_timeline AS
  SELECT run, seq, sum(delta) OVER (PARTITION BY run ORDER BY seq, delta DESC ROWS UNBOUNDED PRECEDING) AS total
  FROM (SELECT run, alloc_seq AS seq, bytes AS delta FROM storages
        UNION ALL SELECT run, free_seq, -bytes FROM storages WHERE free_seq >= 0);
CREATE VIEW IF NOT EXISTS peak AS
  SELECT x.run, x.label, x.peak_bytes, x.seq,
    (SELECT p.phase FROM phases p WHERE p.run = x.run AND p.seq <= x.seq ORDER BY p.seq DESC LIMIT 1) AS phase
  FROM (SELECT t.run AS run, r.label AS label, t.total AS peak_bytes, min(t.seq) AS seq
        FROM storage_timeline t JOIN runs r ON r.id = t.run
        WHERE t.total = (SELECT max(m.total) FROM storage_timeline m WHERE m.run = t.run)
        GROUP BY t.run) x;
CREATE VIEW IF NOT EXISTS storages_at_peak AS
  SELECT s.run, p.label, s.id AS storage, s.bytes, s.category, s.module, s.alloc_op, s.alloc_phase,
    s.holder_op, s.holder_forward_op, rs.text AS reason
  FROM storages s JOIN peak p ON p.run = s.run
  LEFT JOIN reasons rs ON rs.run = s.run AND rs.id = s.reason
  WHERE s.alloc_seq <= p.seq AND (s.free_seq < 0 OR s.free_seq > p.seq);
CREATE VIEW IF NOT EXISTS storage_tensors AS
  SELECT run, storage, bytes, category, module, shape, dtype FROM (
    SELECT s.run, s.id AS storage, s.bytes, s.category, s.module, sh.text AS shape, dt.text AS dtype,
      row_number() OVER (PARTITION BY s.run, s.id ORDER BY p.end_seq, o.rowid) AS k
    FROM storages s
    JOIN op_outputs o ON o.run = s.run AND o.addr = s.addr
    JOIN ops p ON p.run = o.run AND p.id = o.op
    JOIN strings sh ON sh.run = o.run AND sh.id = o.shape
    JOIN strings dt ON dt.run = o.run AND dt.id = o.dtype
    WHERE p.end_seq >= s.alloc_seq AND (s.free_seq < 0 OR p.end_seq < s.free_seq))
  WHERE k = 1;
CREATE VIEW IF NOT EXISTS holders AS
  SELECT s.run, r.label, s.holder_op, s.holder_forward_op, s.module, count(*) AS storages, sum(s.bytes) AS bytes
  FROM storages s JOIN runs r ON r.id = s.run
  WHERE s.category = 'activation'
  GROUP BY s.run, s.holder_op, s.holder_forward_op, s.module;
CREATE VIEW IF NOT EXISTS modules AS
  SELECT s.run, r.label, s.module, mt.type,
    CASE WHEN instr(s.module, '.') = 0 THEN '' ELSE rtrim(rtrim(s.module, replace(s.module, '.', '')), '.') END
      AS parent,
    count(*) AS storages, sum(s.bytes) AS bytes,
    sum(CASE WHEN s.category = 'activation' THEN s.bytes ELSE 0 END) AS activation_bytes
  FROM storages s JOIN runs r ON r.id = s.run
  LEFT JOIN module_types mt ON mt.run = s.run AND mt.path = s.module
  WHERE s.module IS NOT NULL AND s.module <> ''
  GROUP BY s.run, s.module;
)sql";

// Part of every schema-3 file; schema 2 created them with the first validation, so older files may lack them.
const char* kValidationTables = R"sql(
CREATE TABLE IF NOT EXISTS validations(id INTEGER PRIMARY KEY, model_path TEXT, task TEXT, bits INTEGER,
  loss_ratio REAL, passed INTEGER, record TEXT NOT NULL, created TEXT DEFAULT (datetime('now')));
CREATE TABLE IF NOT EXISTS validation_steps(validation INTEGER NOT NULL, step INTEGER NOT NULL,
  baseline_loss REAL, patched_loss REAL, gradient_cosine REAL, weight_divergence REAL,
  PRIMARY KEY(validation, step)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS validation_held_out(validation INTEGER NOT NULL, seed INTEGER NOT NULL,
  step INTEGER NOT NULL, baseline_loss REAL, patched_loss REAL, baseline_accuracy REAL, patched_accuracy REAL,
  PRIMARY KEY(validation, seed, step)) WITHOUT ROWID;
)sql";

class Statement {
 public:
  Statement(sqlite3* db, const char* sql, const std::string& path) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) fail("cannot prepare");
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement& bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, double v) {
    sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  // NULL where a measure does not apply (accuracy of a task that does not classify).
  Statement& bindOrNull(int i, double v, bool present) {
    if (!present) {
      sqlite3_bind_null(stmt_, i);
      return *this;
    }
    return bind(i, v);
  }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // Text that outlives the row's exec() (enum names, the trace's strings): SQLite need not copy it.
  Statement& bindStatic(int i, const char* v) {
    sqlite3_bind_text(stmt_, i, v, -1, SQLITE_STATIC);
    return *this;
  }
  Statement& bindStatic(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  // Runs an insert/update; resets for the next row.
  void exec() {
    if (sqlite3_step(stmt_) != SQLITE_DONE) fail("cannot write");
    sqlite3_reset(stmt_);
  }
  bool next() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) fail("cannot read");
    return false;
  }
  int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
  double f64(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string text(int col) const {
    const auto* t = sqlite3_column_text(stmt_, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  }

 private:
  [[noreturn]] void fail(const char* what) {
    throw InputError(path_, std::string(what) + " the session (" + sqlite3_errmsg(db_) + ")");
  }
  sqlite3* db_;
  std::string path_;
  sqlite3_stmt* stmt_ = nullptr;
};

// One row's parameters inside a multi-row INSERT: `bind(col, v)` sets column `col` (1-based) of the row whose
// parameters start after `firstParam`.
class RowBinder {
 public:
  RowBinder(Statement& stmt, int firstParam) : stmt_(stmt), first_(firstParam) {}
  template <typename T>
  RowBinder& bind(int col, const T& v) {
    stmt_.bind(first_ + col, v);
    return *this;
  }
  template <typename T>
  RowBinder& bindStatic(int col, const T& v) {
    stmt_.bindStatic(first_ + col, v);
    return *this;
  }

 private:
  Statement& stmt_;
  int first_;
};

std::string multiRowInsert(const char* table, int columns, size_t rows) {
  std::string one = "(?";
  for (int c = 1; c < columns; ++c)
    one += ",?";
  one += ")";
  std::string sql = std::string("INSERT INTO ") + table + " VALUES " + one;
  for (size_t r = 1; r < rows; ++r)
    sql += "," + one;
  return sql;
}

// Inserts `count` rows, 64 to a statement: SQLite's cost per statement step is about the cost of a row, so a
// million single-row steps took twice as long as the rows themselves. `bindRow(RowBinder&, i)` binds row i.
template <typename BindRow>
void insertRows(sqlite3* db, const std::string& path, const char* table, int columns, size_t count,
                BindRow bindRow) {
  constexpr size_t kRows = 64;
  size_t i = 0;
  if (count >= kRows) {
    Statement full(db, multiRowInsert(table, columns, kRows).c_str(), path);
    for (; i + kRows <= count; i += kRows) {
      for (size_t r = 0; r < kRows; ++r) {
        RowBinder row(full, static_cast<int>(r) * columns);
        bindRow(row, i + r);
      }
      full.exec();
    }
  }
  if (i == count) return;
  Statement tail(db, multiRowInsert(table, columns, count - i).c_str(), path);
  for (size_t r = 0; i + r < count; ++r) {
    RowBinder row(tail, static_cast<int>(r) * columns);
    bindRow(row, i + r);
  }
  tail.exec();
}

void execSql(sqlite3* db, const char* sql, const std::string& path) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string message = err ? err : sqlite3_errmsg(db);
    sqlite3_free(err);
    throw InputError(path, "not a readable lowmem session (" + message + ")");
  }
}

bool hasTable(sqlite3* db, const std::string& path, const char* name) {
  Statement has(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", path);
  has.bind(1, std::string(name));
  return has.next() && has.i64(0) > 0;
}

// meta.schema_version, or -1 when the file has no meta table (not a lowmem session).
int schemaVersion(sqlite3* db, const std::string& path) {
  if (!hasTable(db, path, "meta")) return -1;
  Statement v(db, "SELECT value FROM meta WHERE key='schema_version'", path);
  if (!v.next()) return -1;
  const std::string text = v.text(0);
  if (text.empty() || text.size() > 6 || text.find_first_not_of("0123456789") != std::string::npos)
    throw InputError(path, "corrupt session: schema version '" + firstLine(text).substr(0, 40) + "'");
  return std::stoi(text);
}

// The oldest schema the reader understands: version 3 changed only the derived `storages.reason` (text to an
// id into `reasons`), and the reader re-analyses the raw tables, which versions 2 and 3 share. Appending
// needs the current schema.
constexpr int kOldestReadableSchema = 2;

void checkVersion(sqlite3* db, const std::string& path, int oldest) {
  const int version = schemaVersion(db, path);
  if (version < 0) throw InputError(path, "not a lowmem session (no schema_version)");
  if (version < oldest) {
    throw InputError(path, "session schema version " + std::to_string(version) +
                               " is older than this lowmem " +
                               (oldest == kSessionSchemaVersion ? "appends to" : "reads") + " (" +
                               std::to_string(oldest) + "); profile the model again to write a new session");
  }
  if (version > kSessionSchemaVersion) {
    throw InputError(path, "session schema version " + std::to_string(version) +
                               " is newer than this lowmem reads (" + std::to_string(kSessionSchemaVersion) +
                               "); use a newer lowmem");
  }
}

Phase phaseFromName(const std::string& name) {
  for (int i = 0; i < kPhaseCount; ++i) {
    if (name == phaseName(static_cast<Phase>(i))) return static_cast<Phase>(i);
  }
  return Phase::kBefore;
}

template <typename Enum, typename NameOf>
Enum enumFromName(const std::string& name, int count, NameOf nameOf) {
  for (int i = 0; i < count; ++i) {
    if (name == nameOf(static_cast<Enum>(i))) return static_cast<Enum>(i);
  }
  return static_cast<Enum>(0);
}

// Opens `path` with `flags`; InputError("PATH: cannot open the session<purpose> (...)") otherwise.
sqlite3* openDatabase(const std::string& path, int flags, const char* purpose) {
  sqlite3* db = nullptr;
  // A connection belongs to one SessionWriter/Reader and one thread at a time: no per-call mutexes (they cost
  // about 7% of a session write).
  if (sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    const std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw InputError(path, std::string("cannot open the session") + purpose + " (" + message + ")");
  }
  // Another process's write transaction is waited for, not reported as "database is locked".
  sqlite3_busy_timeout(db, 60000);
  return db;
}

// A write transaction, or a savepoint inside one already open (SessionWriter::inOneTransaction), so a use
// case's several writes land together or not at all.
class Transaction {
 public:
  Transaction(sqlite3* db, const std::string& path)
      : db_(db), path_(path), nested_(sqlite3_get_autocommit(db) == 0) {
    execSql(db, nested_ ? "SAVEPOINT lowmem_write" : "BEGIN IMMEDIATE", path);
  }
  ~Transaction() {
    if (committed_) return;
    sqlite3_exec(db_, nested_ ? "ROLLBACK TO lowmem_write; RELEASE lowmem_write" : "ROLLBACK", nullptr,
                 nullptr, nullptr);
  }
  void commit() {
    execSql(db_, nested_ ? "RELEASE lowmem_write" : "COMMIT", path_);
    committed_ = true;
  }

 private:
  sqlite3* db_;
  std::string path_;
  bool nested_;
  bool committed_ = false;
};

// The tables and views later than the file (each idempotent): a `modules` view from before module types is
// replaced.
void bringSchemaUpToDate(sqlite3* db, const std::string& path) {
  execSql(db, kLaterTables, path);
  std::string modules;
  {
    Statement view(db, "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'modules'", path);
    if (view.next()) modules = view.text(0);
  }
  if (!modules.empty() && modules.find("module_types") == std::string::npos)
    execSql(db, "DROP VIEW modules", path);
  execSql(db, kQueryViews, path);
}

}  // namespace

SessionWriter::SessionWriter(const std::string& path) : path_(path) {
  db_ = openDatabase(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, " for writing");
  try {
    execSql(db_, "PRAGMA synchronous=NORMAL", path);
    const int version = schemaVersion(db_, path);
    if (version < 0) {
      Statement tables(db_, "SELECT count(*) FROM sqlite_master", path);
      if (tables.next() && tables.i64(0) > 0) throw InputError(path, "exists and is not a lowmem session");
      // A new file: the CLI writes it under a temporary name and renames it only once it reads back, so the
      // rollback journal's disk writes buy nothing here. Appends to an existing session keep the journal.
      execSql(db_, "PRAGMA journal_mode=MEMORY", path);
      execSql(db_, "PRAGMA synchronous=OFF", path);
      Transaction tx(db_, path);
      execSql(db_, kSchema, path);
      execSql(db_, kValidationTables, path);
      execSql(db_, kLaterTables, path);
      execSql(db_, kQueryViews, path);
      Statement meta(db_, "INSERT INTO meta(key, value) VALUES (?, ?)", path);
      meta.bind(1, std::string("schema_version")).bind(2, std::to_string(kSessionSchemaVersion)).exec();
      meta.bind(1, std::string("tool")).bind(2, std::string("lowmem " LOWMEM_CORE_VERSION)).exec();
      tx.commit();
    } else {
      // Tables and views added since the file was written come with the first write's transaction: a write
      // that is refused leaves the file as it was.
      checkVersion(db_, path, kSessionSchemaVersion);
    }
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

void writeToSession(const std::string& path, const std::function<void(SessionWriter&)>& write) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    const bool created = createFileAtomically(
        path,
        [&](const std::string& tmp) {
          SessionWriter w(tmp);
          write(w);
        },
        [](const std::string& tmp) { SessionReader check(tmp); });
    if (created) return;
  }
  SessionWriter w(path);
  write(w);
}

SessionWriter::~SessionWriter() {
  sqlite3_close(db_);
}

namespace {

int64_t insertRunRow(sqlite3* db, const std::string& path, const RunInfo& info, const Trace& t,
                     const Profile& p) {
  Statement run(
      db,
      "INSERT INTO runs(label, model_path, spec_json, backend, executor_mode, threads, step_seconds, "
      "peak_bytes, baseline_bytes, activation_bytes, events, device_tracing, dropped_device_records) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
      path);
  run.bind(1, info.label).bind(2, info.modelPath).bind(3, info.specJson).bind(4, info.backend);
  run.bind(5, info.executorMode).bind(6, static_cast<int64_t>(info.threads)).bind(7, info.stepSeconds);
  run.bind(8, p.peak().total).bind(9, p.baselineBytes).bind(10, p.activationBytes);
  run.bind(11, static_cast<int64_t>(t.memory.size() + t.ops.size()));
  run.bind(12, t.deviceTracing).bind(13, t.droppedDeviceRecords);
  run.exec();
  return sqlite3_last_insert_rowid(db);
}

void insertTraceRows(sqlite3* db, const std::string& path, int64_t id, const Trace& t) {
  const auto i64 = [](auto v) { return static_cast<int64_t>(v); };
  insertRows(db, path, "strings", 3, t.strings.size(),
             [&](RowBinder& r, size_t i) { r.bind(1, id).bind(2, i64(i)).bindStatic(3, t.strings[i]); });
  insertRows(db, path, "memory_events", 7, t.memory.size(), [&](RowBinder& r, size_t i) {
    const auto& e = t.memory[i];
    r.bind(1, id).bind(2, e.seq).bind(3, e.timeNs).bind(4, i64(e.addr)).bind(5, e.bytes);
    r.bind(6, i64(e.op)).bind(7, i64(e.device));
  });
  insertRows(db, path, "ops", 13, t.ops.size(), [&](RowBinder& r, size_t i) {
    const auto& o = t.ops[i];
    r.bind(1, id).bind(2, i64(i)).bind(3, i64(o.name)).bindStatic(4, opScopeName(o.scope));
    r.bindStatic(5, phaseName(o.phase)).bind(6, o.seqNr).bind(7, i64(o.module)).bind(8, i64(o.parent));
    r.bind(9, o.beginSeq)
        .bind(10, o.endSeq)
        .bind(11, o.beginNs)
        .bind(12, o.endNs)
        .bind(13, i64(o.inputShapes));
  });
  insertRows(db, path, "phases", 4, t.phases.size(), [&](RowBinder& r, size_t i) {
    const auto& m = t.phases[i];
    r.bind(1, id).bindStatic(2, phaseName(m.phase)).bind(3, m.seq).bind(4, m.timeNs);
  });
  insertRows(db, path, "known_storages", 6, t.known.size(), [&](RowBinder& r, size_t i) {
    const auto& k = t.known[i];
    r.bind(1, id).bind(2, i64(k.addr)).bind(3, k.bytes).bindStatic(4, knownRoleName(k.role));
    r.bind(5, i64(k.name)).bind(6, i64(k.preexisting));
  });
  insertRows(db, path, "device_activities", 7, t.device.size(), [&](RowBinder& r, size_t i) {
    const auto& d = t.device[i];
    r.bind(1, id).bindStatic(2, deviceActivityKindName(d.kind)).bind(3, i64(d.name)).bind(4, d.startNs);
    r.bind(5, d.endNs).bind(6, d.bytes).bind(7, i64(d.op));
  });
  std::vector<const std::pair<const std::string, std::string>*> types;
  for (const auto& entry : t.moduleTypes)
    types.push_back(&entry);
  insertRows(db, path, "module_types", 3, types.size(), [&](RowBinder& r, size_t i) {
    r.bind(1, id).bindStatic(2, types[i]->first).bindStatic(3, types[i]->second);
  });
  insertRows(db, path, "op_outputs", 5, t.outputs.size(), [&](RowBinder& r, size_t i) {
    const auto& o = t.outputs[i];
    r.bind(1, id).bind(2, i64(o.op)).bind(3, i64(o.addr)).bind(4, i64(o.shape)).bind(5, i64(o.dtype));
  });
}

void insertProfileRows(sqlite3* db, const std::string& path, int64_t id, const Trace& t, const Profile& p) {
  const auto i64 = [](auto v) { return static_cast<int64_t>(v); };
  insertRows(db, path, "reasons", 3, p.reasons.size(),
             [&](RowBinder& r, size_t i) { r.bind(1, id).bind(2, i64(i)).bindStatic(3, p.reasons[i]); });
  insertRows(db, path, "storages", 14, p.storages.size(), [&](RowBinder& r, size_t i) {
    const auto& s = p.storages[i];
    r.bind(1, id)
        .bind(2, i64(i))
        .bind(3, i64(s.addr))
        .bind(4, s.bytes)
        .bind(5, s.allocSeq)
        .bind(6, s.freeSeq);
    r.bindStatic(7, phaseName(s.allocPhase)).bindStatic(8, phaseName(s.freePhase));
    r.bindStatic(9, categoryName(s.category)).bind(10, i64(s.reason)).bindStatic(11, t.opName(s.allocOp));
    r.bindStatic(12, t.opName(s.holderOp)).bindStatic(13, t.opName(s.holderForwardOp));
    r.bindStatic(14, t.str(s.module));
  });
}

}  // namespace

void SessionWriter::inOneTransaction(const std::function<void()>& body) {
  Transaction tx(db_, path_);
  bringSchemaUpToDate(db_, path_);
  body();
  tx.commit();
}

int64_t SessionWriter::writeRun(const RunInfo& info, const Trace& t, const Profile& p) {
  if (info.label.empty() || printable(info.label) != info.label)
    throw SettingError("label", "'" + printable(info.label) + "' is empty or holds control characters");
  Transaction tx(db_, path_);
  bringSchemaUpToDate(db_, path_);
  {
    Statement exists(db_, "SELECT count(*) FROM runs WHERE label = ?", path_);
    exists.bind(1, info.label);
    if (exists.next() && exists.i64(0) > 0)
      throw InputError(path_, "already has a run labelled '" + info.label + "'");
  }
  const int64_t id = insertRunRow(db_, path_, info, t, p);
  insertTraceRows(db_, path_, id, t);
  insertProfileRows(db_, path_, id, t, p);
  tx.commit();
  return id;
}

void SessionWriter::writeComparison(const std::string& baselineLabel, const std::string& patchedLabel,
                                    const nlohmann::json& record) {
  auto runId = [&](const std::string& label) {
    Statement q(db_, "SELECT id FROM runs WHERE label = ?", path_);
    q.bind(1, label);
    if (!q.next()) throw InputError(path_, "no run labelled '" + label + "' to compare");
    return q.i64(0);
  };
  const int64_t base = runId(baselineLabel), patched = runId(patchedLabel);
  Transaction tx(db_, path_);
  bringSchemaUpToDate(db_, path_);
  Statement ins(db_, "INSERT INTO comparisons(baseline_run, patched_run, record) VALUES (?,?,?)", path_);
  ins.bind(1, base).bind(2, patched).bind(3, record.dump()).exec();
  tx.commit();
}

int64_t SessionWriter::writeValidation(const Validation& v) {
  Transaction tx(db_, path_);
  bringSchemaUpToDate(db_, path_);
  Statement ins(
      db_, "INSERT INTO validations(model_path, task, bits, loss_ratio, passed, record) VALUES (?,?,?,?,?,?)",
      path_);
  ins.bind(1, v.modelPath).bind(2, v.task).bind(3, int64_t{v.bits}).bind(4, v.lossRatio);
  ins.bind(5, int64_t{v.passed}).bind(6, validationJson(v).dump()).exec();
  const int64_t id = sqlite3_last_insert_rowid(db_);
  Statement step(
      db_,
      "INSERT INTO validation_steps(validation, step, baseline_loss, patched_loss, gradient_cosine, "
      "weight_divergence) VALUES (?,?,?,?,?,?)",
      path_);
  for (size_t i = 0; i < v.steps.size(); ++i) {
    const auto& s = v.steps[i];
    step.bind(1, id).bind(2, static_cast<int64_t>(i + 1)).bind(3, s.baselineLoss).bind(4, s.patchedLoss);
    step.bind(5, s.gradientCosine).bind(6, s.weightDivergence).exec();
  }
  Statement point(db_,
                  "INSERT INTO validation_held_out(validation, seed, step, baseline_loss, patched_loss, "
                  "baseline_accuracy, patched_accuracy) VALUES (?,?,?,?,?,?,?)",
                  path_);
  for (const auto& run : v.seeds) {
    for (const auto& p : run.heldOut) {
      point.bind(1, id).bind(2, static_cast<int64_t>(run.seed)).bind(3, int64_t{p.step});
      point.bind(4, p.baselineLoss).bind(5, p.patchedLoss);
      point.bindOrNull(6, p.baselineAccuracy, p.baselineAccuracy >= 0)
          .bindOrNull(7, p.patchedAccuracy, p.patchedAccuracy >= 0)
          .exec();
    }
  }
  tx.commit();
  return id;
}

namespace {

// A writer killed mid-transaction leaves PATH-journal beside the file; a read-only connection cannot roll it
// back ("attempt to write a readonly database"), so one read-write connection does that first.
// A journal is hot only once its header carries SQLite's magic: a writer killed before that wrote nothing to
// the database, and SQLite ignores the file (a warning then would be a false alarm).
bool journalIsHot(const std::string& journal) {
  static constexpr unsigned char kMagic[8] = {0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};
  std::ifstream in(journal, std::ios::binary);
  unsigned char header[8] = {};
  in.read(reinterpret_cast<char*>(header), sizeof header);
  return in.gcount() == sizeof header && std::equal(header, header + 8, kMagic);
}

void rollBackInterruptedWrite(const std::string& path) {
  const std::string journal = path + "-journal";
  if (!journalIsHot(journal)) return;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw InputError(path,
                     "an interrupted write left " + journal + "; lowmem needs write access to roll it back");
  }
  sqlite3_busy_timeout(db, 60000);
  // Reading the schema makes SQLite roll the hot journal back.
  const int rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
  const std::string message = sqlite3_errmsg(db);
  sqlite3_close(db);
  if (rc != SQLITE_OK) throw InputError(path, "cannot roll back an interrupted write (" + message + ")");
  spdlog::warn(
      "{}: rolled back a write that was interrupted (its journal was left behind); earlier runs are intact",
      path);
}

}  // namespace

SessionReader::SessionReader(const std::string& path) : path_(path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path, "no such file");
  if (std::filesystem::is_directory(path, ec))
    throw InputError(path, "is a directory, expected a session .db file");
  if (std::filesystem::file_size(path, ec) == 0) throw InputError(path, "empty file, not a lowmem session");
  rollBackInterruptedWrite(path);
  db_ = openDatabase(path, SQLITE_OPEN_READONLY, "");
  try {
    // Reading the schema is the first access: a non-SQLite or damaged file fails here.
    checkVersion(db_, path, kOldestReadableSchema);
    Statement check(db_, "PRAGMA quick_check", path);
    if (check.next() && check.text(0) != "ok")
      throw InputError(path, "corrupt session: " + firstLine(check.text(0)));
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

SessionReader::~SessionReader() {
  sqlite3_close(db_);
}

std::vector<RunInfo> SessionReader::runs() const {
  std::vector<RunInfo> out;
  Statement s(
      db_,
      "SELECT id, label, model_path, spec_json, backend, executor_mode, threads, step_seconds, peak_bytes, "
      "baseline_bytes, activation_bytes, events, device_tracing, dropped_device_records FROM runs ORDER BY "
      "id",
      path_);
  while (s.next()) {
    RunInfo r;
    r.id = s.i64(0);
    r.label = s.text(1);
    r.modelPath = s.text(2);
    r.specJson = s.text(3);
    r.backend = s.text(4);
    r.executorMode = s.text(5);
    r.threads = static_cast<int>(s.i64(6));
    r.stepSeconds = s.f64(7);
    r.peakBytes = s.i64(8);
    r.baselineBytes = s.i64(9);
    r.activationBytes = s.i64(10);
    r.events = s.i64(11);
    r.deviceTracing = s.text(12);
    r.droppedDeviceRecords = s.i64(13);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<SessionReader::StoredComparison> SessionReader::comparisons() const {
  std::vector<StoredComparison> out;
  Statement s(db_,
              "SELECT b.label, p.label, c.record FROM comparisons c JOIN runs b ON b.id = c.baseline_run "
              "JOIN runs p ON p.id = c.patched_run ORDER BY c.id",
              path_);
  while (s.next()) {
    StoredComparison c{s.text(0), s.text(1), {}};
    c.record = parseBoundedJson(s.text(2), path_, "corrupt session: a comparison record", kMaxRecordBytes);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<Validation> SessionReader::validations() const {
  std::vector<Validation> out;
  if (!hasTable(db_, path_, "validations")) return out;
  Statement s(db_, "SELECT record FROM validations ORDER BY id", path_);
  while (s.next()) {
    const auto j =
        parseBoundedJson(s.text(0), path_, "corrupt session: a validation record", kMaxRecordBytes);
    out.push_back(validationFromJson(j, path_));
  }
  return out;
}

namespace {

// The run a label names (the first for ""), InputError listing the labels otherwise.
RunInfo findRun(const std::vector<RunInfo>& all, const std::string& label, const std::string& path) {
  if (all.empty()) throw InputError(path, "session has no runs");
  if (label.empty()) return all.front();
  std::string known;
  for (const auto& r : all) {
    if (r.label == label) return r;
    known += (known.empty() ? "" : ", ") + r.label;
  }
  throw InputError(path, "no run labelled '" + label + "' (runs: " + known + ")");
}

void readStrings(sqlite3* db, const std::string& path, int64_t run, Trace& t) {
  t.strings.clear();
  Statement s(db, "SELECT text FROM strings WHERE run = ? ORDER BY id", path);
  s.bind(1, run);
  while (s.next())
    t.strings.push_back(s.text(0));
}

void readMemory(sqlite3* db, const std::string& path, const RunInfo& run, Trace& t) {
  // runs.events bounds the rows; capped, since a damaged file may claim anything.
  reserveLarge(t.memory, static_cast<size_t>(std::clamp<int64_t>(run.events, 0, int64_t{1} << 22)));
  // Rows were written in seq order; "+run" keeps SQLite from walking the (run, time_ns) index and sorting.
  Statement s(db,
              "SELECT seq, time_ns, addr, bytes, op, device FROM memory_events WHERE +run = ? ORDER BY rowid",
              path);
  s.bind(1, run.id);
  while (s.next()) {
    t.memory.push_back({s.i64(0), s.i64(1), static_cast<uint64_t>(s.i64(2)), s.i64(3),
                        static_cast<int32_t>(s.i64(4)), static_cast<int8_t>(s.i64(5))});
  }
}

void readOps(sqlite3* db, const std::string& path, int64_t run, Trace& t) {
  Statement s(db,
              "SELECT name, scope, phase, seq_nr, module, parent, begin_seq, end_seq, begin_ns, end_ns, "
              "input_shapes FROM ops WHERE run = ? ORDER BY id",
              path);
  s.bind(1, run);
  while (s.next()) {
    OpEvent o;
    o.name = static_cast<StringId>(s.i64(0));
    o.scope = enumFromName<OpScope>(s.text(1), 4, opScopeName);
    o.phase = phaseFromName(s.text(2));
    o.seqNr = s.i64(3);
    o.module = static_cast<StringId>(s.i64(4));
    o.parent = static_cast<int32_t>(s.i64(5));
    o.beginSeq = s.i64(6);
    o.endSeq = s.i64(7);
    o.beginNs = s.i64(8);
    o.endNs = s.i64(9);
    o.inputShapes = static_cast<StringId>(s.i64(10));
    t.ops.push_back(o);
  }
}

void readPhasesAndKnown(sqlite3* db, const std::string& path, int64_t run, Trace& t) {
  Statement phases(db, "SELECT phase, seq, time_ns FROM phases WHERE run = ? ORDER BY seq", path);
  phases.bind(1, run);
  while (phases.next())
    t.phases.push_back({phaseFromName(phases.text(0)), phases.i64(1), phases.i64(2)});
  Statement known(
      db, "SELECT addr, bytes, role, name, preexisting FROM known_storages WHERE run = ? ORDER BY rowid",
      path);
  known.bind(1, run);
  while (known.next()) {
    t.known.push_back({static_cast<uint64_t>(known.i64(0)), known.i64(1),
                       enumFromName<KnownRole>(known.text(2), 6, knownRoleName),
                       static_cast<StringId>(known.i64(3)), known.i64(4) != 0});
  }
}

void readDeviceActivities(sqlite3* db, const std::string& path, const RunInfo& run, Trace& t) {
  Statement s(
      db,
      "SELECT kind, name, start_ns, end_ns, bytes, op FROM device_activities WHERE run = ? ORDER BY rowid",
      path);
  s.bind(1, run.id);
  while (s.next()) {
    DeviceActivity d;
    d.kind = enumFromName<DeviceActivity::Kind>(s.text(0), 5, deviceActivityKindName);
    d.name = static_cast<StringId>(s.i64(1));
    d.startNs = s.i64(2);
    d.endNs = s.i64(3);
    d.bytes = s.i64(4);
    d.op = static_cast<int32_t>(s.i64(5));
    t.device.push_back(d);
  }
  t.deviceTracing = run.deviceTracing;
  t.droppedDeviceRecords = run.droppedDeviceRecords;
}

// Tables later than the schema's first version: absent from older files, whose runs have neither.
void readLaterTables(sqlite3* db, const std::string& path, int64_t run, Trace& t) {
  if (hasTable(db, path, "module_types")) {
    Statement s(db, "SELECT path, type FROM module_types WHERE run = ?", path);
    s.bind(1, run);
    while (s.next())
      t.moduleTypes.emplace(s.text(0), s.text(1));
  }
  if (hasTable(db, path, "op_outputs")) {
    Statement s(db, "SELECT op, addr, shape, dtype FROM op_outputs WHERE run = ? ORDER BY rowid", path);
    s.bind(1, run);
    while (s.next()) {
      t.outputs.push_back({static_cast<int32_t>(s.i64(0)), static_cast<uint64_t>(s.i64(1)),
                           static_cast<StringId>(s.i64(2)), static_cast<StringId>(s.i64(3))});
    }
  }
}

// What the analysis indexes by must be in range, and its walks must end: a damaged file is refused, not read
// out of bounds or looped on.
void checkTrace(const RunInfo& run, const Trace& t, const std::string& path) {
  if (const auto why = traceProblem(t); !why.empty())
    throw InputError(path, "corrupt session: run '" + run.label + "': " + why);
  parseBoundedJson(run.specJson.empty() ? "{}" : run.specJson, path,
                   "corrupt session: run '" + run.label + "''s step spec", kMaxRecordBytes);
}

}  // namespace

SessionRun SessionReader::load(const std::string& label) const {
  SessionRun run;
  run.info = findRun(runs(), label, path_);
  run.trace = checkedTrace(run.info);
  run.profile = analyseTrace(run.trace);
  return run;
}

Trace SessionReader::checkedTrace(const RunInfo& info) const {
  Trace t;
  readStrings(db_, path_, info.id, t);
  readMemory(db_, path_, info, t);
  readOps(db_, path_, info.id, t);
  readPhasesAndKnown(db_, path_, info.id, t);
  readDeviceActivities(db_, path_, info, t);
  readLaterTables(db_, path_, info.id, t);
  checkTrace(info, t, path_);
  return t;
}

void SessionReader::checkWhole() const {
  for (const auto& info : runs())
    checkedTrace(info);
  comparisons();
  validations();
  plans();
}

std::vector<nlohmann::json> SessionReader::plans() const {
  std::vector<nlohmann::json> out;
  if (!hasTable(db_, path_, "plans")) return out;
  Statement s(db_, "SELECT record FROM plans ORDER BY id", path_);
  while (s.next())
    out.push_back(parseBoundedJson(s.text(0), path_, "corrupt session: a plan record", kMaxRecordBytes));
  return out;
}

int64_t SessionWriter::writePlan(const std::string& modelPath, const nlohmann::json& record) {
  Transaction tx(db_, path_);
  bringSchemaUpToDate(db_, path_);
  Statement ins(db_, "INSERT INTO plans(model_path, record) VALUES (?, ?)", path_);
  ins.bind(1, modelPath).bind(2, record.dump()).exec();
  const int64_t id = sqlite3_last_insert_rowid(db_);
  tx.commit();
  return id;
}

void checkSessionToAppend(const std::string& path, const std::vector<std::string>& newLabels) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return;
  const SessionReader reader(path);
  reader.checkWhole();
  const auto runs = reader.runs();
  for (const auto& label : newLabels) {
    for (const auto& r : runs) {
      if (r.label == label) throw InputError(path, "already has a run labelled '" + label + "'");
    }
  }
}

}  // namespace lowmem
