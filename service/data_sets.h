#pragma once
// The data sets `validate --data` names rather than reads from a file, shared by the task factory and the CLI
// (which checks every other --data value as an input file).

#include <string>

namespace lowmem {

inline constexpr const char* kFashionMnistData = "fashion-mnist";
inline constexpr const char* kTextData = "text";
inline constexpr const char* kSyntheticData = "synthetic";

inline bool namesDataSet(const std::string& data) {
  return data == kFashionMnistData || data == kTextData || data == kSyntheticData;
}

}  // namespace lowmem
