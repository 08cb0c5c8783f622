#pragma once
// A progress report is a stage's text; a counted stage ends in "N of M" ("training step 57 of 200"), which
// the front ends turn into a percentage (the CLI's line, the studio's bar).

#include <string>

namespace lowmem {

struct ProgressStage {
  std::string name;  // the text without its count: "training step"
  long done = 0;     // 0 and 0 for a stage without a count
  long total = 0;

  int percent() const { return total > 0 ? static_cast<int>(100 * done / total) : -1; }
};

ProgressStage parseProgressStage(const std::string& text);

}  // namespace lowmem
