#pragma once
// The byte-level text `validate --data text` trains token models on: the Python 3.11 standard library's
// top-level modules (/usr/lib/python3.11/*.py). Every Debian 12 machine with python3 has them (this project's
// setup installs python3-torch, which pulls them in); they are real text written by people (code, comments,
// docstrings in English), 4.7 MB of it, and stable for a Debian release. Split by a fixed rule: the files
// sorted by name, every tenth (the 10th, 20th, ...) held out.

#include <string>

namespace lowmem {

inline constexpr const char* kPythonSourceDir = "/usr/lib/python3.11";

struct ByteCorpus {
  std::string train;
  std::string heldOut;
  int trainFiles = 0;
  int heldOutFiles = 0;
  std::string source;  // the folder read
};

// InputError naming the folder when it holds no .py file or the held-out part would be empty.
ByteCorpus loadByteCorpus(const std::string& dir = kPythonSourceDir);

}  // namespace lowmem
