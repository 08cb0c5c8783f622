#pragma once
// JSON from outside the process (a --spec file, a session's stored records) parsed with bounds: a document
// nested deeper than any lowmem writes, or larger than any it reads, is refused before it can exhaust the
// stack or the memory of whatever walks it.

#include <string>

#include <nlohmann/json.hpp>

namespace lowmem {

inline constexpr int kMaxJsonDepth = 64;

// nlohmann::json::parse with at most `maxBytes` of text and kMaxJsonDepth levels; InputError(source, "WHAT:
// ...") otherwise, one line.
nlohmann::json parseBoundedJson(const std::string& text, const std::string& source, const std::string& what,
                                size_t maxBytes);

// The JSON document a file holds, read and parsed with the same bounds: InputError(path, ...) for a missing
// file, a directory, one larger than `maxBytes`, or text that is not one JSON document.
nlohmann::json readBoundedJsonFile(const std::string& path, const std::string& what, size_t maxBytes);

}  // namespace lowmem
