#include "core/trace_check.h"

#include <unordered_set>

namespace lowmem {
namespace {

std::string of(const char* what, size_t i, const char* field, int64_t id, size_t n) {
  return std::string(what) + " " + std::to_string(i) + " names " + field + " " + std::to_string(id) + " of " +
         std::to_string(n);
}

std::string opsProblem(const Trace& t) {
  const auto strings = t.strings.size();
  const auto inStrings = [strings](StringId id) { return id >= 0 && static_cast<size_t>(id) < strings; };
  for (size_t i = 0; i < t.ops.size(); ++i) {
    const auto& o = t.ops[i];
    if (!inStrings(o.name)) return of("op", i, "string", o.name, strings);
    if (!inStrings(o.module)) return of("op", i, "string", o.module, strings);
    if (!inStrings(o.inputShapes)) return of("op", i, "string", o.inputShapes, strings);
    // An op is recorded when it begins, inside its parent: the parent comes first.
    if (o.parent < -1 || o.parent >= static_cast<int64_t>(i)) return of("op", i, "parent", o.parent, i);
    if (o.endSeq != -1 && o.endSeq < o.beginSeq) return "op " + std::to_string(i) + " ends before it begins";
  }
  return {};
}

std::string memoryProblem(const Trace& t) {
  std::unordered_set<uint64_t> live;
  for (const auto& k : t.known) {
    if (k.preexisting) live.insert(k.addr);
  }
  int64_t lastSeq = INT64_MIN;
  for (size_t i = 0; i < t.memory.size(); ++i) {
    const auto& e = t.memory[i];
    const std::string which = "memory event " + std::to_string(i);
    if (e.seq < lastSeq) return which + " is out of sequence order";
    lastSeq = e.seq;
    if (e.op < -1 || e.op >= static_cast<int64_t>(t.ops.size()))
      return of("memory event", i, "op", e.op, t.ops.size());
    if (e.bytes == 0 || e.bytes > kMaxStorageBytes || e.bytes < -kMaxStorageBytes)
      return which + " has an impossible size of " + std::to_string(e.bytes) + " bytes";
    if (e.bytes > 0 && !live.insert(e.addr).second)
      return which + " allocates an address that is already allocated";
    if (e.bytes < 0) live.erase(e.addr);
  }
  return {};
}

std::string othersProblem(const Trace& t) {
  const auto strings = t.strings.size();
  for (size_t i = 0; i < t.known.size(); ++i) {
    const auto& k = t.known[i];
    if (k.name < 0 || static_cast<size_t>(k.name) >= strings)
      return of("known storage", i, "string", k.name, strings);
    if (k.bytes <= 0 || k.bytes > kMaxStorageBytes)
      return "known storage " + std::to_string(i) + " has an impossible size of " + std::to_string(k.bytes) +
             " bytes";
  }
  for (size_t i = 0; i < t.device.size(); ++i) {
    const auto& d = t.device[i];
    if (d.name < 0 || static_cast<size_t>(d.name) >= strings)
      return of("device activity", i, "string", d.name, strings);
    if (d.op < -1 || d.op >= static_cast<int64_t>(t.ops.size()))
      return of("device activity", i, "op", d.op, t.ops.size());
  }
  for (size_t i = 0; i < t.outputs.size(); ++i) {
    const auto& o = t.outputs[i];
    if (o.op < 0 || o.op >= static_cast<int64_t>(t.ops.size()))
      return of("op output", i, "op", o.op, t.ops.size());
    if (o.shape < 0 || static_cast<size_t>(o.shape) >= strings)
      return of("op output", i, "string", o.shape, strings);
    if (o.dtype < 0 || static_cast<size_t>(o.dtype) >= strings)
      return of("op output", i, "string", o.dtype, strings);
  }
  for (size_t i = 1; i < t.phases.size(); ++i) {
    if (t.phases[i].seq < t.phases[i - 1].seq) return "phase mark " + std::to_string(i) + " is out of order";
  }
  return {};
}

}  // namespace

std::string traceProblem(const Trace& t) {
  if (auto why = opsProblem(t); !why.empty()) return why;
  if (auto why = memoryProblem(t); !why.empty()) return why;
  return othersProblem(t);
}

}  // namespace lowmem
