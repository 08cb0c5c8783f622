// Every command against the bad inputs of each kind the hardening issue found (outputs naming inputs, damaged
// sessions, hostile regexes and JSON, numbers out of range, names forward does not take, inputs that run but
// mean nothing): each must exit 2 with one line that names the file or flag and the problem, and leave every
// file in the folder as it was, byte for byte, with no file added (no temporary, no half-written output).

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "tests/cli/cli_fixture.h"

namespace lowmem {
namespace {

namespace fs = std::filesystem;

struct BadCase {
  std::vector<std::string> args;  // "@name" is the file `name` in the corpus folder
  std::string subject;            // what the line must name ("@name" as above)
  std::string problem;            // what it must say
};

std::string contents(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every file under `dir` with its bytes.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) files[entry.path().string()] = contents(entry.path());
  }
  return files;
}

class BadInputCorpus : public CliTest {
 protected:
  static void SetUpTestSuite() {
    CliTest::SetUpTestSuite();
    corpus_ = dir_ / "corpus";
    fs::create_directories(corpus_ / "a-directory");
    const auto model = at("m.pt");
    ASSERT_EQ(lowmemCli({"-q", "models", "build", "vit-tiny", "-o", model}).exitCode, 0);
    ASSERT_EQ(lowmemCli({"-q", "models", "build", "vit-tiny", "--seed", "3", "-o", at("other.pt")}).exitCode,
              0);
    ASSERT_EQ(lowmemCli({"-q", "profile", model, "--trainable", "lora", "-o", at("s.db")}).exitCode, 0);
    ASSERT_EQ(lowmemCli({"-q", "patch", model, "--trainable", "lora", "-o", at("patched.pt"), "--session",
                         at("compared.db"), "--timing-rounds", "1"})
                  .exitCode,
              0);
    ASSERT_EQ(lowmemCli({"-q", "patch", at("other.pt"), "--trainable", "lora", "-o", at("other-patched.pt")})
                  .exitCode,
              0);
    // Outputs a user already has: a failed command must not touch them.
    write("out.pt", "a model the user keeps\n");
    write("trace.json", "{\"a trace the user keeps\": 1}\n");
    write("chart.png", "a chart the user keeps\n");
    write("notes.txt", "not a session, not a model\n");
    // Step specs no parser should accept.
    write("spec-trailing.json", R"({"trainable": "lora"} {"seed": 1})");
    write("spec-fraction.json", R"({"seed": 1.5})");
    write("spec-deep.json", std::string(100000, '[') + std::string(100000, ']'));
    write("spec-huge.json", "{\"trainable\": \"" + std::string(10 << 20, 'a') + "\"}");
    // Damaged sessions: a cycle among the ops, an event naming an op that is not there.
    tamper("cycle.db", "UPDATE ops SET parent = id");
    tamper("orphan-event.db", "UPDATE memory_events SET op = 100000");
    tamper("bad-record.db", "UPDATE comparisons SET record = '{\"suggestions\": [1,'", "compared.db");
  }

  static std::string at(const std::string& name) { return (corpus_ / name).string(); }

  static void write(const std::string& name, const std::string& text) { std::ofstream(at(name)) << text; }

  static void tamper(const std::string& name, const std::string& sql, const std::string& from = "s.db") {
    fs::copy_file(at(from), at(name), fs::copy_options::overwrite_existing);
    const auto r = testing::runProcess({"/usr/bin/sqlite3", at(name), sql});
    ASSERT_EQ(r.exitCode, 0) << r.err;
  }

  static std::string expand(const std::string& s) { return s.rfind('@', 0) == 0 ? at(s.substr(1)) : s; }

  // Runs each case on the corpus and checks the contract.
  static void expectEachRefused(const std::vector<BadCase>& cases) {
    for (const auto& c : cases) {
      std::vector<std::string> args;
      std::string shown;
      for (const auto& a : c.args) {
        args.push_back(expand(a));
        shown += " " + (a.size() > 60 ? a.substr(0, 60) + "..." : a);
      }
      SCOPED_TRACE("lowmem" + shown);
      const auto before = snapshot(corpus_);
      expectBadInput(lowmemCli(args), expand(c.subject), c.problem);
      const auto after = snapshot(corpus_);
      for (const auto& [file, bytes] : after) {
        const auto it = before.find(file);
        if (it == before.end()) {
          ADD_FAILURE() << "left a new file " << file;
        } else if (it->second != bytes) {
          ADD_FAILURE() << "changed " << file;
        }
      }
      EXPECT_EQ(before.size(), after.size()) << "a file was removed";
    }
  }

  inline static fs::path corpus_;
};

TEST_F(BadInputCorpus, OutputsNamingAnInputAreRefusedBeforeAnyWork) {
  expectEachRefused({
      {{"profile", "@m.pt", "-o", "@new.db", "--chrome-trace", "@m.pt"}, "@m.pt", "is also the model"},
      {{"profile", "@m.pt", "-o", "@m.pt"}, "@m.pt", "is also the model"},
      {{"profile", "@m.pt", "-o", "@new.db", "--chrome-trace", "@new.db"}, "@new.db", "--chrome-trace"},
      {{"report", "@s.db", "--chrome-trace", "@s.db"}, "@s.db", "is also the session"},
      {{"validate", "@m.pt", "--png", "@m.pt"}, "@m.pt", "is also the model"},
      {{"validate", "@m.pt", "-o", "@m.pt"}, "@m.pt", "is also the model"},
      {{"patch", "@m.pt", "-o", "@m.pt"}, "@m.pt", "is also the model"},
      {{"patch", "@m.pt", "-o", "@out.pt", "--session", "@out.pt"}, "@out.pt", "is also the patched model"},
      {{"patch", "@m.pt", "-o", "@out.pt", "--session", "@m.pt"}, "@m.pt", "is also the model"},
      {{"demo", "-o", "@notes.txt"}, "@notes.txt", "cannot create the output directory"},
      {{"plan", "@m.pt", "-o", "@m.pt"}, "@m.pt", "is also the model"},
      {{"plan", "@m.pt", "--png", "@m.pt"}, "@m.pt", "is also the model"},
  });
}

TEST_F(BadInputCorpus, DamagedOrForeignSessionsAreRefusedByEveryReaderAndWriter) {
  expectEachRefused({
      {{"report", "@cycle.db"}, "@cycle.db", "corrupt session"},
      {{"report", "@orphan-event.db", "--format", "json"}, "@orphan-event.db", "corrupt session"},
      {{"compare", "@bad-record.db"}, "@bad-record.db", "corrupt session: a comparison record"},
      {{"report", "@notes.txt"}, "@notes.txt", "file is not a database"},
      {{"report", "@m.pt"}, "@m.pt", "file is not a database"},
      {{"report", "@missing.db"}, "@missing.db", "no such"},
      {{"report", "@s.db", "--run", "nosuch"}, "nosuch", "no run"},
      // Writers read the session first: nothing is profiled into, or patched beside, a damaged one.
      {{"profile", "@m.pt", "-o", "@cycle.db", "--label", "second"}, "@cycle.db", "corrupt session"},
      {{"patch", "@m.pt", "-o", "@new.pt", "--session", "@orphan-event.db"},
       "@orphan-event.db",
       "corrupt session"},
      {{"validate", "@m.pt", "-o", "@notes.txt"}, "@notes.txt", "file is not a database"},
      {{"plan", "@m.pt", "-o", "@cycle.db"}, "@cycle.db", "corrupt session"},
  });
}

TEST_F(BadInputCorpus, ModelFilesThatAreNotModels) {
  expectEachRefused({
      {{"info", "@notes.txt"}, "@notes.txt", "not a TorchScript archive"},
      {{"info", "@missing.pt"}, "@missing.pt", "no such file"},
      {{"profile", "@a-directory", "-o", "@new.db"}, "@a-directory", "is a directory"},
      {{"suggest", "@s.db"}, "@s.db", "not a TorchScript archive"},
      {{"validate", "@m.pt", "--patched", "@m.pt"}, "@m.pt", "records no lowmem rewrite"},
      {{"validate", "@m.pt", "--trainable", "lora", "--patched", "@other-patched.pt"},
       "@other-patched.pt",
       "was patched from another model"},
      {{"models", "build", "no-such-preset", "-o", "@new.pt"}, "no-such-preset", "unknown"},
  });
}

TEST_F(BadInputCorpus, HostilePatternsAndSpecFiles) {
  expectEachRefused({
      {{"info", "@m.pt", "--trainable", std::string(5000, 'a')}, "--trainable", "4096"},
      {{"suggest", "@m.pt", "--trainable", "a{99999999999999999999}"},
       "--trainable",
       "matches none of the model's"},
      {{"profile", "@m.pt", "-o", "@s.db", "--trainable", std::string(50000, '(')}, "--trainable", "4096"},
      {{"profile", "@m.pt", "-o", "@s.db", "--spec", "@spec-deep.json"}, "@spec-deep.json", "deeper than 64"},
      {{"patch", "@m.pt", "-o", "@out.pt", "--spec", "@spec-huge.json"},
       "@spec-huge.json",
       "more than the 1048576"},
      {{"suggest", "@m.pt", "--spec", "@spec-trailing.json"}, "@spec-trailing.json", "expected end of input"},
      {{"validate", "@m.pt", "--spec", "@spec-fraction.json"}, "@spec-fraction.json", "seed"},
      {{"profile", "@m.pt", "-o", "@s.db", "--spec", "@a-directory"}, "@a-directory", "not a file"},
  });
}

TEST_F(BadInputCorpus, NumbersNamesAndInputsOutOfRange) {
  expectEachRefused({
      {{"profile", "@m.pt", "-o", "@s.db", "--input", "x:float32[99999999999999999999]"}, "--input", "x:"},
      {{"profile", "@m.pt", "-o", "@new.db", "--input", "y:float32[2,3,32,32]"}, "'y'", "forward"},
      {{"patch", "@m.pt", "-o", "@out.pt", "--input", "x:float32[0,3,32,32]"}, "--input", "x:"},
      {{"suggest", "@m.pt", "--seed", "-1"}, "--seed", "-1"},
      {{"models", "build", "vit-tiny", "-o", "@new.pt", "--batch", "99999999999"}, "--batch", "99999999999"},
      {{"profile", "@m.pt", "-o", "@s.db", "--label", "base\x1b[2Jline"}, "--label", "control characters"},
      {{"profile", "@m.pt", "-o", "@s.db"}, "@s.db", "already has a run labelled 'baseline'"},
      {{"validate", "@m.pt", "--steps", "3"}, "--steps", "3"},
      {{"validate", "@m.pt", "--seeds", "0"}, "--seeds", "0"},
      {{"validate", "@m.pt", "--steps", "4", "--held-out-points", "9"}, "--held-out-points", "expected 2"},
      {{"validate", "@m.pt", "--data", "text"}, "/usr/lib/python3.11", "token ids"},
      {{"patch", "@m.pt", "-o", "@out.pt", "--bits", "9"}, "--bits", "expected 2, 3 or 4"},
      {{"info", "@m.pt", "--trainable", "lroa"}, "--trainable", "'lroa' matches none of the model's"},
      {{"plan", "@m.pt", "--budget", "-3GiB"}, "--budget", "is not a size"},
      {{"plan", "@m.pt", "--fit-batch", "4", "--batch", "8"}, "@m.pt", "two sizes or more"},
      {{"plan", "@m.pt", "--inputs-file", "@notes.txt"}, "@notes.txt", "fixed sizes"},
      {{"profile", "@m.pt", "-o", "@new.db", "--trainable", "none"}, "--trainable", "'none' trains nothing"},
  });
}

}  // namespace
}  // namespace lowmem
