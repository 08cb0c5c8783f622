#include <algorithm>
#include <cassert>
#include <stdexcept>
#include <unordered_map>

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

void lifetimes(const Trace& t, const PhaseLookup& phases, Profile& p) {
  // Sized up front: growing a vector of a million storages page-faults its way through every copy.
  size_t allocations = t.known.size();
  for (const auto& e : t.memory)
    allocations += e.bytes > 0;
  p.storages.reserve(allocations);
  std::unordered_map<uint64_t, size_t> live;
  live.reserve(1024);
  for (const auto& k : t.known) {
    if (!k.preexisting) continue;
    StorageLife s;
    s.addr = k.addr;
    s.bytes = k.bytes;
    s.category = categoryOf(k.role);
    s.reason = std::string(knownRoleName(k.role)) + " " + t.str(k.name) + ", alive before the step";
    live[k.addr] = p.storages.size();
    p.storages.push_back(std::move(s));
    p.baselineBytes += k.bytes;
  }
  int64_t lastSeq = -1;
  for (const auto& e : t.memory) {
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
      live[e.addr] = p.storages.size();
      p.storages.push_back(std::move(s));
      continue;
    }
    auto it = live.find(e.addr);
    if (it == live.end()) {
      ++p.untrackedFrees;
      continue;
    }
    auto& s = p.storages[it->second];
    s.freeSeq = e.seq;
    s.freePhase = phases.at(e.seq);
    s.freeOp = e.op;
    live.erase(it);
  }
}

void categorise(const Trace& t, Profile& p) {
  // Storages the caller identified after the step (gradients, new optimizer state, the output), by address.
  std::unordered_map<uint64_t, const KnownStorage*> knownAtEnd;
  for (const auto& k : t.known) {
    if (!k.preexisting) knownAtEnd[k.addr] = &k;
  }
  // Backward nodes by end, for "freed right after" a node; forward ops by autograd sequence number.
  std::vector<int32_t> backwardByEnd;
  std::unordered_map<int64_t, int32_t> forwardBySeqNr;
  for (size_t i = 0; i < t.ops.size(); ++i) {
    const auto& op = t.ops[i];
    if (op.scope == OpScope::kBackward && op.endSeq >= 0) backwardByEnd.push_back(static_cast<int32_t>(i));
    if (op.scope == OpScope::kFunction && op.seqNr >= 0 && op.phase != Phase::kBackward &&
        !forwardBySeqNr.count(op.seqNr)) {
      forwardBySeqNr[op.seqNr] = static_cast<int32_t>(i);
    }
  }
  std::sort(backwardByEnd.begin(), backwardByEnd.end(), [&](int32_t a, int32_t b) {
    return t.ops[static_cast<size_t>(a)].endSeq < t.ops[static_cast<size_t>(b)].endSeq;
  });

  for (auto& s : p.storages) {
    if (s.allocSeq < 0) continue;  // known before the step: categorised from its role
    const auto opName = [&](int32_t op) { return op >= 0 ? t.opName(op) : std::string("(no op)"); };
    const int32_t caller = outermostFunction(t, s.allocOp);
    const std::string allocBy = opName(caller >= 0 ? caller : s.allocOp);
    if (s.freeSeq < 0) {
      if (auto k = knownAtEnd.find(s.addr); k != knownAtEnd.end() && k->second->bytes == s.bytes) {
        s.category = categoryOf(k->second->role);
        s.reason = std::string(knownRoleName(k->second->role)) + " " + t.str(k->second->name) +
                   ", allocated by " + allocBy + " in " + phaseName(s.allocPhase);
        continue;
      }
    }
    const bool aliveAtBackward = p.backwardStartSeq >= 0 && s.aliveAt(p.backwardStartSeq);
    if (s.allocPhase == Phase::kForward && aliveAtBackward) {
      s.category = Category::kActivation;
      if (s.freeSeq >= 0 && s.freePhase == Phase::kBackward) {
        s.holderOp = enclosing(t, s.freeOp, OpScope::kBackward);
        if (s.holderOp < 0) {
          // Freed between nodes: the node that ended last before the free released it.
          auto it = std::upper_bound(
              backwardByEnd.begin(), backwardByEnd.end(), s.freeSeq,
              [&](int64_t seq, int32_t op) { return seq < t.ops[static_cast<size_t>(op)].endSeq; });
          if (it != backwardByEnd.begin()) s.holderOp = *std::prev(it);
        }
        if (s.holderOp >= 0) {
          auto f = forwardBySeqNr.find(t.ops[static_cast<size_t>(s.holderOp)].seqNr);
          if (f != forwardBySeqNr.end()) s.holderForwardOp = f->second;
        }
      }
      s.reason = "allocated by " + allocBy + " in forward, alive when backward starts" +
                 (s.holderOp >= 0 ? ", released by " + opName(s.holderOp)
                                  : std::string(", never released in the step"));
    } else if (s.allocPhase == Phase::kLoss && aliveAtBackward) {
      s.category = Category::kOutput;
      s.reason = "allocated by " + allocBy + " in the loss, alive when backward starts";
    } else if (s.freeSeq >= 0 && s.freePhase == s.allocPhase) {
      s.category = Category::kTemporary;
      s.reason = "allocated by " + allocBy + " and freed within " + phaseName(s.allocPhase);
    } else {
      s.category = Category::kOther;
      s.reason =
          "allocated by " + allocBy + " in " + phaseName(s.allocPhase) +
          (s.freeSeq >= 0 ? std::string(", freed in ") + phaseName(s.freePhase) : ", alive at the end");
    }
  }
}

void timeline(const Trace& t, Profile& p) {
  std::unordered_map<uint64_t, size_t> live;
  TimelinePoint point;
  for (size_t i = 0; i < p.storages.size(); ++i) {
    const auto& s = p.storages[i];
    if (s.allocSeq >= 0) continue;
    live[s.addr] = i;
    point.total += s.bytes;
    point.byCategory[static_cast<size_t>(s.category)] += s.bytes;
  }
  point.seq = t.memory.empty() ? 0 : t.memory.front().seq - 1;
  point.timeNs = t.memory.empty() ? 0 : t.memory.front().timeNs;
  p.timeline.reserve(t.memory.size() + 1);
  p.timeline.push_back(point);
  // Storages were created in event order, so the k-th allocation event is the k-th observed storage.
  size_t nextObserved = 0;
  while (nextObserved < p.storages.size() && p.storages[nextObserved].allocSeq < 0)
    ++nextObserved;
  for (const auto& e : t.memory) {
    if (e.bytes > 0) {
      const size_t idx = nextObserved++;
      live[e.addr] = idx;
      point.total += e.bytes;
      point.byCategory[static_cast<size_t>(p.storages[idx].category)] += e.bytes;
    } else if (auto it = live.find(e.addr); it != live.end()) {
      const auto& s = p.storages[it->second];
      point.total -= s.bytes;
      point.byCategory[static_cast<size_t>(s.category)] -= s.bytes;
      live.erase(it);
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
      const auto dot = prefix.find_last_of('.');
      prefix = dot == std::string::npos ? "" : prefix.substr(0, dot);
    }
  }
}

}  // namespace

Profile analyseTrace(const Trace& trace) {
  Profile p;
  PhaseLookup phases(trace.phases);
  p.backwardStartSeq = phases.start(Phase::kBackward);
  lifetimes(trace, phases, p);
  categorise(trace, p);
  timeline(trace, p);
  for (const auto& s : p.storages) {
    if (s.category == Category::kActivation && s.aliveAt(p.backwardStartSeq)) p.activationBytes += s.bytes;
  }
  moduleActivations(trace, p);
  return p;
}

}  // namespace lowmem
