#pragma once
// Dotted module paths ("encoder.layer_0.attn.q"), as the trace, the profile, the patcher's plans and the
// views name modules and parameters. "" is the root. Plain strings: the patcher resolves them against a
// module.

#include <string>
#include <utility>
#include <vector>

namespace lowmem {

// "a.b.c" -> {"a", "b", "c"}; "" -> {} (the root has no components).
std::vector<std::string> pathComponents(const std::string& path);

// "a.b.weight" -> ("a.b", "weight"); "weight" -> ("", "weight").
std::pair<std::string, std::string> splitLastComponent(const std::string& path);

// "a.b" + "c" -> "a.b.c"; "" + "c" -> "c".
std::string joinPath(const std::string& parent, const std::string& child);

// The deepest path both are within: "a.b.c", "a.bd" -> "a"; "a.b", "a.b.c" -> "a.b".
std::string commonPath(const std::string& a, const std::string& b);

// True for `ancestor` itself and every path below it ("a.b" is within "a", "ab" is not); everything is within
// "".
bool isWithin(const std::string& path, const std::string& ancestor);

}  // namespace lowmem
