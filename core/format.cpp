#include "core/format.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <utility>

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

std::optional<int64_t> parseByteSize(const std::string& text) {
  size_t end = 0;
  double value = 0;
  try {
    value = std::stod(text, &end);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string unit = text.substr(end);
  unit.erase(0, unit.find_first_not_of(' '));
  static const std::pair<const char*, double> kUnits[] = {{"", 1},
                                                          {"B", 1},
                                                          {"K", 1024.0},
                                                          {"KiB", 1024.0},
                                                          {"M", 1048576.0},
                                                          {"MiB", 1048576.0},
                                                          {"G", 1073741824.0},
                                                          {"GiB", 1073741824.0},
                                                          {"T", 1099511627776.0},
                                                          {"TiB", 1099511627776.0},
                                                          {"KB", 1e3},
                                                          {"MB", 1e6},
                                                          {"GB", 1e9},
                                                          {"TB", 1e12}};
  for (const auto& [name, scale] : kUnits) {
    if (unit != name) continue;
    const double bytes = value * scale;
    if (!(bytes >= 1) || bytes > 1152921504606846976.0) return std::nullopt;
    return static_cast<int64_t>(bytes);
  }
  return std::nullopt;
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
