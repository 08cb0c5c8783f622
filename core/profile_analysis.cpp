#include <algorithm>
#include <cassert>
#include <stdexcept>
#include <unordered_map>

#include "core/large_vector.h"
#include "core/module_path.h"
#include "core/profile.h"

namespace lowmem {

const char* categoryName(Category category) {
  switch (category) {
    case Category::kParameter:
      return "parameter";
    case Category::kGradient:
      return "gradient";
    case Category::kOptimizerState:
      return "optimizer state";
    case Category::kInput:
      return "input";
    case Category::kActivation:
      return "activation";
    case Category::kTemporary:
      return "temporary";
    case Category::kOutput:
      return "output";
    case Category::kOther:
      return "other";
  }
  return "?";
}

std::vector<size_t> Profile::aliveAt(int64_t seq) const {
  std::vector<size_t> out;
  for (size_t i = 0; i < storages.size(); ++i) {
    if (storages[i].aliveAt(seq)) out.push_back(i);
  }
  return out;
}

namespace {

Category categoryOf(KnownRole role) {
  switch (role) {
    case KnownRole::kParameter:
    case KnownRole::kBuffer:
      return Category::kParameter;
    case KnownRole::kGradient:
      return Category::kGradient;
    case KnownRole::kOptimizerState:
      return Category::kOptimizerState;
    case KnownRole::kInput:
      return Category::kInput;
    case KnownRole::kOutput:
      return Category::kOutput;
  }
  return Category::kOther;
}

class PhaseLookup {
 public:
  explicit PhaseLookup(const std::vector<PhaseMark>& marks) : marks_(marks) {
    std::sort(marks_.begin(), marks_.end(),
              [](const PhaseMark& a, const PhaseMark& b) { return a.seq < b.seq; });
  }
  Phase at(int64_t seq) const {
    Phase phase = Phase::kBefore;
    for (const auto& m : marks_) {
      if (m.seq > seq) break;
      phase = m.phase;
    }
    return phase;
  }
  int64_t start(Phase phase) const {
    for (const auto& m : marks_) {
      if (m.phase == phase) return m.seq;
    }
    return -1;
  }

 private:
  std::vector<PhaseMark> marks_;
};

// The op itself or its nearest enclosing op of the given scope.
int32_t enclosing(const Trace& t, int32_t op, OpScope scope) {
  while (op >= 0 && t.ops[static_cast<size_t>(op)].scope != scope)
    op = t.ops[static_cast<size_t>(op)].parent;
  return op;
}

// The outermost enclosing ATen op: "what the model called" (aten::linear rather than the addmm inside it).
int32_t outermostFunction(const Trace& t, int32_t op) {
  int32_t found = -1;
  for (; op >= 0; op = t.ops[static_cast<size_t>(op)].parent) {
    if (t.ops[static_cast<size_t>(op)].scope == OpScope::kFunction) found = op;
  }
  return found;
}

// Reasons are built once per distinct cause: a million storages share a few hundred sentences, and building
// each one's text was most of the analysis's time.
class ReasonTable {
 public:
  explicit ReasonTable(std::vector<std::string>& texts) : texts_(texts) {}

  // `kind` and the small fields `a`, `b` (roles, phases) with two string ids name one sentence; `make` builds
  // it the first time.
  template <typename Make>
  int32_t intern(uint8_t kind, uint8_t a, uint8_t b, StringId x, StringId y, Make make) {
    const Key key{(uint64_t{kind} << 16) | (uint64_t{a} << 8) | b,
                  (uint64_t{static_cast<uint32_t>(x)} << 32) | static_cast<uint32_t>(y)};
    auto [it, added] = index_.try_emplace(key, static_cast<int32_t>(texts_.size()));
    if (added) texts_.push_back(make());
    return it->second;
  }

 private:
  struct Key {
    uint64_t small, ids;
    bool operator==(const Key& o) const { return small == o.small && ids == o.ids; }
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<uint64_t>()(k.ids * 0x9E3779B97F4A7C15ULL ^ k.small);
    }
  };
  std::vector<std::string>& texts_;
  std::unordered_map<Key, int32_t, KeyHash> index_;
};

constexpr int32_t kUnmatched = -1;

// Builds the storages from the events; `storageOfEvent[i]` is the storage memory event i allocates or frees,
// kUnmatched for a free of an address never seen allocated (the timeline ignores those).
void lifetimes(const Trace& t, const PhaseLookup& phases, Profile& p, std::vector<int32_t>& storageOfEvent,
               ReasonTable& reasons) {
  // Sized up front: growing a vector of a million storages page-faults its way through every copy.
  size_t allocations = t.known.size();
  for (const auto& e : t.memory)
    allocations += e.bytes > 0;
  reserveLarge(p.storages, allocations);
  reserveLarge(storageOfEvent, t.memory.size());
  storageOfEvent.assign(t.memory.size(), kUnmatched);
  std::unordered_map<uint64_t, int32_t> live;
  live.reserve(1024);
  for (const auto& k : t.known) {
    if (!k.preexisting) continue;
    StorageLife s;
    s.addr = k.addr;
    s.bytes = k.bytes;
    s.category = categoryOf(k.role);
    s.reason = reasons.intern(0, static_cast<uint8_t>(k.role), 0, k.name, 0, [&] {
      return std::string(knownRoleName(k.role)) + " " + t.str(k.name) + ", alive before the step";
    });
    live[k.addr] = static_cast<int32_t>(p.storages.size());
    p.storages.push_back(s);
    p.baselineBytes += k.bytes;
  }
  int64_t lastSeq = -1;
  for (size_t i = 0; i < t.memory.size(); ++i) {
    const auto& e = t.memory[i];
    if (e.seq < lastSeq) throw std::invalid_argument("trace memory events are not in sequence order");
    lastSeq = e.seq;
    if (e.bytes > 0) {
      StorageLife s;
      s.addr = e.addr;
      s.bytes = e.bytes;
      s.allocSeq = e.seq;
      s.allocPhase = phases.at(e.seq);
      s.allocOp = e.op;
      const int32_t caller = outermostFunction(t, e.op);
      s.module = caller >= 0 ? t.ops[static_cast<size_t>(caller)].module : 0;
      storageOfEvent[i] = live[e.addr] = static_cast<int32_t>(p.storages.size());
      p.storages.push_back(s);
      continue;
    }
    auto it = live.find(e.addr);
    if (it == live.end()) {
      ++p.untrackedFrees;
      continue;
    }
    auto& s = p.storages[static_cast<size_t>(it->second)];
    s.freeSeq = e.seq;
    s.freePhase = phases.at(e.seq);
    s.freeOp = e.op;
    storageOfEvent[i] = it->second;
    live.erase(it);
  }
}

// Gives every storage made in the step its category and reason. Known-at-end storages (gradients, new
// optimizer state, the output) take their role; forward storages alive at backward are activations, with the
// backward node that released them.
class Categoriser {
 public:
  Categoriser(const Trace& t, Profile& p, ReasonTable& reasons) : t_(t), p_(p), reasons_(reasons) {
    for (const auto& k : t.known) {
      if (!k.preexisting) knownAtEnd_[k.addr] = &k;
    }
    for (size_t i = 0; i < t.ops.size(); ++i) {
      const auto& op = t.ops[i];
      if (op.scope == OpScope::kBackward && op.endSeq >= 0) backwardByEnd_.push_back(static_cast<int32_t>(i));
      // Ops that make no autograd node (a slice of a buffer) record the same number as the op that makes the
      // next one: that op is the last of them, and an op's callees with its number are part of it.
      if (op.scope == OpScope::kFunction && op.seqNr >= 0 && op.phase != Phase::kBackward &&
          (op.parent < 0 || t.ops[static_cast<size_t>(op.parent)].seqNr != op.seqNr)) {
        forwardBySeqNr_[op.seqNr] = static_cast<int32_t>(i);
      }
    }
    std::sort(backwardByEnd_.begin(), backwardByEnd_.end(),
              [&](int32_t a, int32_t b) { return op(a).endSeq < op(b).endSeq; });
  }

  void run() {
    for (auto& s : p_.storages) {
      if (s.allocSeq < 0) continue;  // known before the step: categorised from its role
      const int32_t caller = outermostFunction(t_, s.allocOp);
      const StringId allocBy = nameOf(caller >= 0 ? caller : s.allocOp);
      if (s.freeSeq < 0 && knownAtEnd(s, allocBy)) continue;
      const bool aliveAtBackward = p_.backwardStartSeq >= 0 && s.aliveAt(p_.backwardStartSeq);
      if (s.allocPhase == Phase::kForward && aliveAtBackward) {
        activation(s, allocBy);
      } else if (s.allocPhase == Phase::kLoss && aliveAtBackward) {
        s.category = Category::kOutput;
        s.reason = reasons_.intern(kLossOutput, 0, 0, allocBy, 0, [&] {
          return "allocated by " + text(allocBy) + " in the loss, alive when backward starts";
        });
      } else {
        temporaryOrOther(s, allocBy);
      }
    }
  }

 private:
  static constexpr StringId kNoOp = -1;  // "(no op)" in a reason
  enum : uint8_t { kKnownAtEnd = 1, kActivation, kLossOutput, kTemporary, kOtherAlive, kOtherFreed };

  const OpEvent& op(int32_t i) const { return t_.ops[static_cast<size_t>(i)]; }
  StringId nameOf(int32_t i) const { return i >= 0 ? op(i).name : kNoOp; }
  std::string text(StringId name) const { return name == kNoOp ? std::string("(no op)") : t_.str(name); }
  static uint8_t phase(Phase ph) { return static_cast<uint8_t>(ph); }

  bool knownAtEnd(StorageLife& s, StringId allocBy) {
    const auto k = knownAtEnd_.find(s.addr);
    if (k == knownAtEnd_.end() || k->second->bytes != s.bytes) return false;
    const KnownStorage& known = *k->second;
    s.category = categoryOf(known.role);
    s.reason = reasons_.intern(kKnownAtEnd, static_cast<uint8_t>(known.role), phase(s.allocPhase), known.name,
                               allocBy, [&] {
                                 return std::string(knownRoleName(known.role)) + " " + t_.str(known.name) +
                                        ", allocated by " + text(allocBy) + " in " + phaseName(s.allocPhase);
                               });
    return true;
  }

  // The backward node that released a storage freed in backward, and the forward op that made that node.
  void findHolder(StorageLife& s) const {
    s.holderOp = enclosing(t_, s.freeOp, OpScope::kBackward);
    if (s.holderOp < 0) {
      // Freed between nodes: the node that ended last before the free released it.
      auto it = std::upper_bound(backwardByEnd_.begin(), backwardByEnd_.end(), s.freeSeq,
                                 [&](int64_t seq, int32_t o) { return seq < op(o).endSeq; });
      if (it != backwardByEnd_.begin()) s.holderOp = *std::prev(it);
    }
    if (s.holderOp >= 0) {
      auto f = forwardBySeqNr_.find(op(s.holderOp).seqNr);
      if (f != forwardBySeqNr_.end()) s.holderForwardOp = f->second;
    }
  }

  void activation(StorageLife& s, StringId allocBy) {
    s.category = Category::kActivation;
    if (s.freeSeq >= 0 && s.freePhase == Phase::kBackward) findHolder(s);
    const bool held = s.holderOp >= 0;
    const StringId holder = held ? nameOf(s.holderOp) : kNoOp;
    s.reason = reasons_.intern(kActivation, held, 0, allocBy, holder, [&] {
      return "allocated by " + text(allocBy) + " in forward, alive when backward starts" +
             (held ? ", released by " + text(holder) : std::string(", never released in the step"));
    });
  }

  void temporaryOrOther(StorageLife& s, StringId allocBy) {
    if (s.freeSeq >= 0 && s.freePhase == s.allocPhase) {
      s.category = Category::kTemporary;
      s.reason = reasons_.intern(kTemporary, phase(s.allocPhase), 0, allocBy, 0, [&] {
        return "allocated by " + text(allocBy) + " and freed within " + phaseName(s.allocPhase);
      });
      return;
    }
    s.category = Category::kOther;
    const bool freed = s.freeSeq >= 0;
    s.reason = reasons_.intern(
        freed ? kOtherFreed : kOtherAlive, phase(s.allocPhase), freed ? phase(s.freePhase) : 0, allocBy, 0,
        [&] {
          return "allocated by " + text(allocBy) + " in " + phaseName(s.allocPhase) +
                 (freed ? std::string(", freed in ") + phaseName(s.freePhase) : ", alive at the end");
        });
  }

  const Trace& t_;
  Profile& p_;
  ReasonTable& reasons_;
  std::unordered_map<uint64_t, const KnownStorage*> knownAtEnd_;  // made in the step, identified after it
  std::vector<int32_t> backwardByEnd_;                            // backward nodes by end seq
  std::unordered_map<int64_t, int32_t> forwardBySeqNr_;           // forward ops by autograd sequence number
};

void categorise(const Trace& t, Profile& p, ReasonTable& reasons) {
  Categoriser(t, p, reasons).run();
}

void timeline(const Trace& t, const std::vector<int32_t>& storageOfEvent, Profile& p) {
  TimelinePoint point;
#ifndef NDEBUG
  std::unordered_map<uint64_t, size_t> live;  // only to check the running total
#endif
  for (size_t i = 0; i < p.storages.size(); ++i) {
    const auto& s = p.storages[i];
    if (s.allocSeq >= 0) continue;
#ifndef NDEBUG
    live[s.addr] = i;
#endif
    point.total += s.bytes;
    point.byCategory[static_cast<size_t>(s.category)] += s.bytes;
  }
  point.seq = t.memory.empty() ? 0 : t.memory.front().seq - 1;
  point.timeNs = t.memory.empty() ? 0 : t.memory.front().timeNs;
  reserveLarge(p.timeline, t.memory.size() + 1);
  p.timeline.push_back(point);
  for (size_t i = 0; i < t.memory.size(); ++i) {
    const auto& e = t.memory[i];
    if (const int32_t idx = storageOfEvent[i]; idx != kUnmatched) {
      const auto& s = p.storages[static_cast<size_t>(idx)];
      const int64_t delta = e.bytes > 0 ? s.bytes : -s.bytes;
      point.total += delta;
      point.byCategory[static_cast<size_t>(s.category)] += delta;
#ifndef NDEBUG
      if (e.bytes > 0)
        live[e.addr] = static_cast<size_t>(idx);
      else
        live.erase(e.addr);
#endif
    }
    point.seq = e.seq;
    point.timeNs = e.timeNs;
#ifndef NDEBUG
    // The running total is the sum of what is alive: every event while the live set is small, then every
    // 4096th (the check is O(live)).
    if (live.size() <= 4096 || p.timeline.size() % 4096 == 0) {
      int64_t alive = 0;
      for (const auto& entry : live)
        alive += p.storages[entry.second].bytes;
      assert(alive == point.total);
    }
#endif
    p.timeline.push_back(point);
    if (point.total > p.timeline[p.peakPoint].total) p.peakPoint = p.timeline.size() - 1;
  }
}

void moduleActivations(const Trace& t, Profile& p) {
  for (const auto& s : p.storages) {
    if (s.category != Category::kActivation || !s.aliveAt(p.backwardStartSeq)) continue;
    const std::string& path = t.str(s.module);
    p.moduleActivations[path].exclusive += s.bytes;
    std::string prefix = path;
    while (true) {
      p.moduleActivations[prefix].inclusive += s.bytes;
      if (prefix.empty()) break;
      prefix = splitLastComponent(prefix).first;
    }
  }
}

}  // namespace

Profile analyseTrace(const Trace& trace) {
  Profile p;
  PhaseLookup phases(trace.phases);
  p.backwardStartSeq = phases.start(Phase::kBackward);
  ReasonTable reasons(p.reasons);
  std::vector<int32_t> storageOfEvent;
  lifetimes(trace, phases, p, storageOfEvent, reasons);
  categorise(trace, p, reasons);
  timeline(trace, storageOfEvent, p);
  for (const auto& s : p.storages) {
    if (s.category == Category::kActivation && s.aliveAt(p.backwardStartSeq)) p.activationBytes += s.bytes;
  }
  moduleActivations(trace, p);
  return p;
}

}  // namespace lowmem
