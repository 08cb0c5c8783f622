#pragma once
// The SQLite session file: runs (a traced step each) with their raw trace and the derived storages, so users
// can query it with sqlite3 (docs/session-format.md) and the CLI and GUI reopen it without the model. The
// writer adds one run per transaction; the reader opens read-only and re-analyses the raw trace.

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <vector>

#include "core/profile.h"
#include "core/trace.h"
#include "core/validation.h"

namespace lowmem {

inline constexpr int kSessionSchemaVersion = 3;

struct RunInfo {
  int64_t id = 0;
  std::string label;  // "baseline", "patched", ...
  std::string modelPath;
  std::string specJson;       // the step spec, as the CLI or GUI gave it
  std::string backend;        // "cpu"
  std::string executorMode;   // "eager-like (graph executor optimisation off)" ...
  std::string deviceTracing;  // CUPTI's status, or why it was unavailable
  int threads = 0;
  double stepSeconds = 0;
  int64_t peakBytes = 0;
  int64_t baselineBytes = 0;
  int64_t activationBytes = 0;
  int64_t events = 0;
  int64_t droppedDeviceRecords = 0;  // device records CUPTI could not buffer
};

struct SessionRun {
  RunInfo info;
  Trace trace;
  Profile profile;
};

class SessionWriter {
 public:
  // Creates the file (and its schema) or opens an existing session of this schema version for appending.
  explicit SessionWriter(const std::string& path);
  ~SessionWriter();
  SessionWriter(const SessionWriter&) = delete;
  SessionWriter& operator=(const SessionWriter&) = delete;

  // Writes the run in one transaction; on failure nothing of it remains. Returns the run id. A label already
  // in the session is refused (InputError).
  int64_t writeRun(const RunInfo& info, const Trace& trace, const Profile& profile);
  // A patched run measured against a baseline run of this session: the suggestions, rewrites, verification
  // and timing as one JSON record (see docs/session-format.md). Both labels must exist.
  void writeComparison(const std::string& baselineLabel, const std::string& patchedLabel,
                       const nlohmann::json& record);
  // A `lowmem validate` result: its record (JSON) and one row per training step. Returns its id.
  int64_t writeValidation(const Validation& v);
  // A `lowmem plan` record (core/plan_report.h's planJson).
  int64_t writePlan(const std::string& modelPath, const nlohmann::json& record);
  // `body`'s writes (any of the above) as one transaction: all of them land or none.
  void inOneTransaction(const std::function<void()>& body);

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
};

// Writes into the session at `path`: appended in one transaction when it exists, else a new file created
// complete or not at all. Of writers creating one file at the same time none is lost: a writer that finds
// the file created meanwhile appends to it instead. Waits for another writer's transaction (up to a minute).
void writeToSession(const std::string& path, const std::function<void(SessionWriter&)>& write);

// Before any work whose result is appended to `path`: nothing, when there is no such file yet; otherwise the
// whole session is checked (a damaged one is refused rather than added to) and `newLabels` must be free.
void checkSessionToAppend(const std::string& path, const std::vector<std::string>& newLabels = {});

class SessionReader {
 public:
  // Read-only. InputError("PATH: ...") for a missing, non-SQLite, corrupt, non-lowmem or newer-schema file.
  explicit SessionReader(const std::string& path);
  ~SessionReader();
  SessionReader(const SessionReader&) = delete;
  SessionReader& operator=(const SessionReader&) = delete;

  std::vector<RunInfo> runs() const;
  // By label; an empty label means the first run. InputError when there is no such run.
  SessionRun load(const std::string& label) const;

  struct StoredComparison {
    std::string baselineLabel;
    std::string patchedLabel;
    nlohmann::json record;
  };
  std::vector<StoredComparison> comparisons() const;
  std::vector<Validation> validations() const;  // oldest first; empty when none was stored
  std::vector<nlohmann::json> plans() const;    // planJson records, oldest first

  // Reads and checks every run, comparison and validation without analysing them: InputError naming the file
  // and what is wrong, as load() would give.
  void checkWhole() const;

 private:
  Trace checkedTrace(const RunInfo& info) const;

  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace lowmem
