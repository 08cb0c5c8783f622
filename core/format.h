#pragma once
// Human-readable numbers for reports: binary byte units and thousands separators.

#include <cstdint>
#include <optional>
#include <string>

namespace lowmem {

// 1536 -> "1.50 KiB"; below 1 KiB plain bytes ("512 B").
std::string formatBytes(int64_t bytes);

// "24GiB", "24 GiB", "1.5G", "500MB", "1048576": bytes. Binary units (K, M, G, T with or without "iB");
// "KB", "MB", "GB", "TB" are decimal, as disk and cloud vendors use them. Nullopt for anything else, zero,
// negative or over 1 EiB.
std::optional<int64_t> parseByteSize(const std::string& text);

// 1234567 -> "1,234,567".
std::string formatCount(int64_t n);

// Text from a file or a flag as it may be shown on a terminal: control characters (escape sequences, carriage
// returns, newlines) written as \xNN, so a crafted label or path cannot rewrite the screen or add lines.
std::string printable(const std::string& text);

}  // namespace lowmem
