#pragma once
// Runs a program of ours with arguments and captures its exit code, stdout and stderr (for CLI tests).

#include <string>
#include <vector>

namespace lowmem::testing {

struct ProcessResult {
  int exitCode = -1;  // 128 + signal number when the program was killed by a signal
  std::string out;
  std::string err;
};

ProcessResult runProcess(const std::vector<std::string>& argv);

// The number of lines in `text` (a final line without '\n' counts).
int lineCount(const std::string& text);

}  // namespace lowmem::testing
