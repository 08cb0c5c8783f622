#include "core/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/error.h"

namespace lowmem {
namespace fs = std::filesystem;

namespace {

std::string temporarySibling(const fs::path& target) {
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rd()));
  return (target.parent_path() / ("." + target.filename().string() + ".tmp-" + suffix)).string();
}

}  // namespace

void checkOutputPath(const std::string& path) {
  if (path.empty()) throw InputError("output", "empty output path");
  const fs::path target = fs::absolute(path);
  const fs::path dir = target.parent_path();
  std::error_code ec;
  if (fs::is_directory(target, ec)) throw InputError(path, "is a directory, expected a file path");
  if (!fs::exists(dir, ec))
    throw InputError(path, "cannot write: directory " + dir.string() + " does not exist");
  if (!fs::is_directory(dir, ec))
    throw InputError(path, "cannot write: " + dir.string() + " is not a directory");
  if (::access(dir.c_str(), W_OK) != 0) {
    throw InputError(
        path, "cannot write: directory " + dir.string() + " is not writable (" + std::strerror(errno) + ")");
  }
}

void writeBytes(const std::string& path, const std::string& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw InputError(path, std::string("cannot write: ") + std::strerror(errno));
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() && std::fflush(f) == 0 &&
                       ::fsync(::fileno(f)) == 0;
  const int error = errno;
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed) {
    std::error_code ec;
    fs::remove(path, ec);
    throw InputError(path, std::string("cannot write: ") + std::strerror(written ? errno : error));
  }
}

void copyFileAtomically(const std::string& source, const std::string& path) {
  writeFileAtomically(path, [&](const std::string& tmp) {
    std::error_code ec;
    fs::copy_file(source, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec) throw InputError(path, "cannot copy " + source + " (" + ec.message() + ")");
  });
}

namespace {

enum class Place { kReplace, kOnlyIfAbsent };

// Writes, verifies and puts the temporary in place; false when kOnlyIfAbsent found the path taken.
bool writeAndPlace(const std::string& path, const std::function<void(const std::string&)>& write,
                   const std::function<void(const std::string&)>& verify, Place place) {
  checkOutputPath(path);
  const fs::path target = fs::absolute(path);
  const std::string tmp = temporarySibling(target);
  std::error_code ec;
  try {
    try {
      write(tmp);
    } catch (const InputError& e) {
      // Said of the user's path: the temporary name means nothing to them.
      std::string message = e.what();
      for (size_t at = message.find(tmp); at != std::string::npos; at = message.find(tmp, at + path.size()))
        message.replace(at, tmp.size(), path);
      throw InputError("", message);
    } catch (const std::exception& e) {
      throw InputError(path, std::string("cannot write: ") + firstLine(e.what()));
    }
    if (!fs::exists(tmp, ec)) throw InputError(path, "cannot write: nothing was written");
    if (verify) verify(tmp);
    if (place == Place::kReplace) {
      fs::rename(tmp, target, ec);
      if (ec) throw InputError(path, "cannot rename the written file into place: " + ec.message());
      return true;
    }
    // A hard link never replaces: of two processes creating the file at once, one finds it taken.
    if (::link(tmp.c_str(), target.c_str()) != 0) {
      const int error = errno;
      if (error != EEXIST)
        throw InputError(path, std::string("cannot put the file in place: ") + std::strerror(error));
      fs::remove(tmp, ec);
      return false;
    }
    fs::remove(tmp, ec);
    return true;
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

}  // namespace

void writeFileAtomically(const std::string& path, const std::function<void(const std::string&)>& write,
                         const std::function<void(const std::string&)>& verify) {
  writeAndPlace(path, write, verify, Place::kReplace);
}

bool createFileAtomically(const std::string& path, const std::function<void(const std::string&)>& write,
                          const std::function<void(const std::string&)>& verify) {
  return writeAndPlace(path, write, verify, Place::kOnlyIfAbsent);
}

}  // namespace lowmem
