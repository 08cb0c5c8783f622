#include "core/error.h"

namespace lowmem {

std::string firstLine(const std::string& text) {
  auto start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return {};
  auto end = text.find_first_of("\r\n", start);
  auto line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t'))
    line.pop_back();
  return line;
}

std::string modelErrorLine(const std::string& text) {
  if (text.find("failed in the TorchScript interpreter") == std::string::npos) return firstLine(text);
  size_t end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return {};
  const size_t start = text.find_last_of("\r\n", end);
  return firstLine(text.substr(start == std::string::npos ? 0 : start + 1, end + 1));
}

}  // namespace lowmem
