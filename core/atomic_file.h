#pragma once
// Writes a file so that the destination is either the old content or the complete, verified new content:
// write to a temporary file in the same directory, verify it, rename over the destination.

#include <functional>
#include <string>

namespace lowmem {

// Throws InputError naming `path` when it could not be written: empty, a directory, or a parent that is
// missing, not a directory or not writable. Front ends call it before long work, writeFileAtomically again.
void checkOutputPath(const std::string& path);

// `write` receives the temporary path and must fill it; `verify` (optional) receives it back and throws to
// refuse. Throws InputError naming `path` when the directory is missing or unwritable; the temporary file
// never remains.
void writeFileAtomically(const std::string& path,
                         const std::function<void(const std::string& tmpPath)>& write,
                         const std::function<void(const std::string& tmpPath)>& verify = {});

// writeFileAtomically for a file that must not exist: false (and nothing written) when `path` exists by the
// time the file is complete, as when another process created it meanwhile; never replaces it.
bool createFileAtomically(const std::string& path,
                          const std::function<void(const std::string& tmpPath)>& write,
                          const std::function<void(const std::string& tmpPath)>& verify = {});

// `bytes` written to `path` with every write, the flush and the sync checked: InputError(path, "cannot
// write: No space left on device") and the partial file removed, never an abort.
void writeBytes(const std::string& path, const std::string& bytes);

// `source` copied to `path` by writeFileAtomically: the old `path` stays until the copy is complete.
void copyFileAtomically(const std::string& source, const std::string& path);

}  // namespace lowmem
