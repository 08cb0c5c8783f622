#include "core/bounded_json.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.h"

namespace lowmem {

nlohmann::json parseBoundedJson(const std::string& text, const std::string& source, const std::string& what,
                                size_t maxBytes) {
  if (text.size() > maxBytes) {
    throw InputError(source, what + " is " + std::to_string(text.size()) + " bytes, more than the " +
                                 std::to_string(maxBytes) + " lowmem reads");
  }
  // The parser keeps its own stack; the callback stops it at the first level too deep, before a recursive
  // copy or destructor could walk such a tree.
  const nlohmann::json::parser_callback_t bound = [](int depth, nlohmann::json::parse_event_t,
                                                     nlohmann::json&) {
    if (depth > kMaxJsonDepth) throw std::length_error("too deep");
    return true;
  };
  try {
    return nlohmann::json::parse(text, bound);
  } catch (const std::length_error&) {
  } catch (const nlohmann::json::exception& e) {
    throw InputError(source, what + " is not valid JSON (" + firstLine(e.what()) + ")");
  }
  throw InputError(source, what + " is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
}

nlohmann::json readBoundedJsonFile(const std::string& path, const std::string& what, size_t maxBytes) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(path, "no such " + what);
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError(path, "is not a file; expected " + what);
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw InputError(path, "cannot read the " + what + " (" + ec.message() + ")");
  if (size > maxBytes) {
    throw InputError(path, "the " + what + " is " + std::to_string(size) + " bytes, more than the " +
                               std::to_string(maxBytes) + " lowmem reads");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot read the " + what);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parseBoundedJson(text, path, "the " + what, maxBytes);
}

}  // namespace lowmem
