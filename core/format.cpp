#include "core/format.h"

#include <cstdio>
#include <cstdlib>

namespace lowmem {

std::string formatBytes(int64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  const char* sign = bytes < 0 ? "-" : "";
  double value = static_cast<double>(std::llabs(bytes));
  if (value < 1024) return sign + std::to_string(std::llabs(bytes)) + " B";
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%.2f %s", sign, value, kUnits[unit]);
  return buf;
}

std::string printable(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string formatCount(int64_t n) {
  std::string digits = std::to_string(std::llabs(n));
  std::string out;
  int since = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (since == 3) {
      out.insert(out.begin(), ',');
      since = 0;
    }
    out.insert(out.begin(), *it);
    ++since;
  }
  return n < 0 ? "-" + out : out;
}

}  // namespace lowmem
