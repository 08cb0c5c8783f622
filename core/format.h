#pragma once
// Human-readable numbers for reports: binary byte units and thousands separators.

#include <cstdint>
#include <string>

namespace lowmem {

// 1536 -> "1.50 KiB"; below 1 KiB plain bytes ("512 B").
std::string formatBytes(int64_t bytes);

// 1234567 -> "1,234,567".
std::string formatCount(int64_t n);

// Text from a file or a flag as it may be shown on a terminal: control characters (escape sequences, carriage
// returns, newlines) written as \xNN, so a crafted label or path cannot rewrite the screen or add lines.
std::string printable(const std::string& text);

}  // namespace lowmem
