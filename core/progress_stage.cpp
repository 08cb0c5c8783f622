#include "core/progress_stage.h"

#include <cctype>

namespace lowmem {
namespace {

// The digits ending text[0, end), as a number; `start` is where they begin. -1 when there are none or too
// many.
long trailingNumber(const std::string& text, size_t end, size_t& start) {
  start = end;
  while (start > 0 && std::isdigit(static_cast<unsigned char>(text[start - 1])))
    --start;
  if (start == end || end - start > 9) return -1;
  return std::stol(text.substr(start, end - start));
}

}  // namespace

ProgressStage parseProgressStage(const std::string& text) {
  ProgressStage stage{text, 0, 0};
  size_t totalStart = 0, doneStart = 0;
  const long total = trailingNumber(text, text.size(), totalStart);
  static const std::string of = " of ";
  if (total <= 0 || totalStart < of.size() || text.compare(totalStart - of.size(), of.size(), of) != 0)
    return stage;
  const long done = trailingNumber(text, totalStart - of.size(), doneStart);
  if (done < 0 || done > total || doneStart < 2 || text[doneStart - 1] != ' ') return stage;
  return {text.substr(0, doneStart - 1), done, total};
}

}  // namespace lowmem
