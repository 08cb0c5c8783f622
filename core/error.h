#pragma once
// Errors a user can act on. Every front end prints what() as one line and exits with exitCode().

#include <stdexcept>
#include <string>

namespace lowmem {

enum class ExitCode : int {
  kOk = 0,
  kFailure = 1,       // a check the user asked for did not pass (e.g. a verification)
  kBadInput = 2,      // a file, flag or spec is wrong; nothing was run
  kModelFailed = 3,   // the model itself failed while running
  kInconclusive = 4,  // a check ran but could not decide (validate: the original model did not learn)
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode exitCode() const { return code_; }

 private:
  ExitCode code_;
};

// "FILE: problem", exit code 2.
class InputError : public Error {
 public:
  InputError(const std::string& subject, const std::string& problem)
      : Error(ExitCode::kBadInput, subject.empty() ? problem : subject + ": " + problem) {}
};

// A bad value of a setting the user chose (a step-spec field by its JSON key, "only", "bits"): phrased for
// the setting, so the GUI and a spec file read right; the CLI names the setting's flag instead
// (cli::flagOf), the front end knowing what the user typed.
class SettingError : public InputError {
 public:
  SettingError(const std::string& setting, const std::string& problem)
      : InputError(setting, problem), setting_(setting), problem_(problem) {}
  const std::string& setting() const { return setting_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string setting_;
  std::string problem_;
};

// One line for an exception a model raised: TorchScript's message starts with a generic header and a
// traceback and ends with the real error ("RuntimeError: shape ... is invalid"), which is the line kept.
std::string modelErrorLine(const std::string& text);

// Makes any message a single line: the first line of a multi-line text (LibTorch appends backtraces).
std::string firstLine(const std::string& text);

}  // namespace lowmem
