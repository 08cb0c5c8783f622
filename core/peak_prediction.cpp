#include "core/peak_prediction.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "core/attention_prediction.h"
#include "core/site_span.h"

namespace lowmem {
namespace {

// Forward ops of the site: the op itself for activations (the occurrence-th of that name in the module),
// every op the norm module ran for norms.
std::vector<int32_t> siteOps(const Trace& t, const SitePlan& plan, int occurrence) {
  const bool norm = isNormKind(plan.site.kind);
  const char* name = plan.site.kind == SiteKind::kSilu ? "aten::silu" : "aten::gelu";
  std::vector<int32_t> ops;
  int seen = 0;
  for (size_t i = 0; i < t.ops.size(); ++i) {
    const auto& op = t.ops[i];
    if (op.phase != Phase::kForward || op.scope != OpScope::kFunction ||
        t.str(op.module) != plan.site.modulePath)
      continue;
    if (norm) {
      ops.push_back(static_cast<int32_t>(i));
    } else if (t.str(op.name) == name) {
      if (seen++ == occurrence) return {static_cast<int32_t>(i)};
    }
  }
  return norm ? ops : std::vector<int32_t>{};
}

// Elements of an op's first tensor input, from the shapes the tracer recorded ("[2,197,768] [768]"); -1 when
// none were recorded.
int64_t firstInputElements(const Trace& t, int32_t op) {
  const auto dims = firstShape(t.str(t.ops[static_cast<size_t>(op)].inputShapes));
  if (!dims) return -1;
  int64_t n = 1;  // "[]": a scalar tensor
  for (auto d : *dims)
    n *= d;
  return n;
}

// Bytes per element of the site's output: measured where the tracer recorded shapes (under autocast one model
// mixes 16- and 32-bit activations), else the model's parameter dtype. First the dtype the site's forward
// returned the output storage with (it holds at any size: a plan's trace has one size's shapes and another's
// bytes); else `ops`, the ATen calls of the site's backward nodes, whose first input is the incoming
// gradient, shaped like the output (the shapes of ops that the TorchScript interpreter calls in forward hold
// more than the op's own arguments on LibTorch 1.13).
int siteElementBytes(const Trace& t, const std::set<int32_t>& forward, uint64_t outputAddr,
                     const std::vector<int32_t>& ops, int64_t outputBytes, int fallback) {
  for (const auto& out : t.outputs) {
    if (out.addr != outputAddr || !forward.count(out.op)) continue;
    if (const auto bytes = dtypeElementBytes(t.str(out.dtype)); bytes > 0) return static_cast<int>(bytes);
  }
  for (auto op : ops) {
    const int64_t n = firstInputElements(t, op);
    if (n <= 0 || outputBytes % n != 0) continue;
    const int64_t size = outputBytes / n;
    if (size == 1 || size == 2 || size == 4 || size == 8) return static_cast<int>(size);
  }
  return fallback;
}

// Storages holding an autocast copy of `source` for a backward: allocated by, or under, an aten::_to_copy
// whose first argument is that storage, while it was alive (addresses are reused once freed).
std::vector<size_t> savedCastsOf(const Trace& t, const Profile& p, const StorageLife& source) {
  std::vector<size_t> casts;
  if (source.addr == 0) return casts;
  for (size_t i = 0; i < p.storages.size(); ++i) {
    const auto& s = p.storages[i];
    if (s.allocOp < 0 || s.holderOp < 0 || s.allocSeq < source.allocSeq) continue;
    if (source.freeSeq >= 0 && s.allocSeq > source.freeSeq) continue;
    int32_t op = s.allocOp;
    for (int depth = 0; op >= 0 && depth < 2; ++depth) {
      const auto& o = t.ops[static_cast<size_t>(op)];
      if (t.str(o.name) == "aten::_to_copy") {
        if (o.inputStorage == source.addr) casts.push_back(i);
        break;
      }
      op = o.parent;
    }
  }
  return casts;
}

// The gradient storage the step left for `parameter` (allocated during it, alive at its end); -1 when none.
int64_t gradientStorage(const Trace& t, const Profile& p, const std::string& parameter) {
  if (parameter.empty()) return -1;
  const std::string name = parameter + ".grad";
  for (const auto& k : t.known) {
    if (k.role != KnownRole::kGradient || k.preexisting || t.str(k.name) != name) continue;
    for (size_t i = 0; i < p.storages.size(); ++i) {
      const auto& s = p.storages[i];
      if (s.addr == k.addr && s.allocSeq >= 0 && s.freeSeq < 0) return static_cast<int64_t>(i);
    }
  }
  return -1;
}

}  // namespace

namespace {

// The site's output: the largest storage its forward made that outlives it (and that its backward does not
// keep); -1 when none.
int64_t outputStorage(const Trace& t, const Profile& p, const SiteSpan& span) {
  int64_t index = -1, bytes = 0;
  for (size_t i = 0; i < p.storages.size(); ++i) {
    const auto& s = p.storages[i];
    if (!span.heldBySite(s) && span.allocatedBySite(t, s) && s.aliveAt(span.forwardEnd) && s.bytes > bytes) {
      bytes = s.bytes;
      index = static_cast<int64_t>(i);
    }
  }
  return index;
}

// A norm whose affine is folded into every consumer (none re-applies it on a residual) leaves gamma and beta
// unused: the step no longer makes their gradients.
void dropFoldedGradients(const Trace& t, const Profile& p, const SitePlan& plan, SiteEffect& e) {
  if (!plan.valid || plan.residualUses != 0 || plan.folds.empty()) return;
  for (const auto& param : {plan.gamma, plan.beta}) {
    if (const auto i = gradientStorage(t, p, param); i >= 0) {
      const auto& g = p.storages[static_cast<size_t>(i)];
      e.newFree.emplace_back(static_cast<size_t>(i), g.allocSeq);
      e.droppedGradientBytes += g.bytes;
    }
  }
}

// Storages the site's backward is the last to release, and what becomes of the site's output: its float32
// copy goes where autocast consumers saved casts (`casts`), else an MS-norm keeps it until its backward.
void releaseHeldStorages(const Trace& t, const Profile& p, const SiteSpan& span, bool norm,
                         const std::vector<size_t>& casts, SiteEffect& e) {
  for (size_t i = 0; i < p.storages.size(); ++i) {
    const auto& s = p.storages[i];
    if (span.heldBySite(s)) {
      e.newFree.emplace_back(i, std::max(span.forwardEnd, s.allocSeq + 1));
      e.releasedBytes += s.bytes;
      continue;
    }
    if (!span.allocatedBySite(t, s) || !s.aliveAt(span.forwardEnd)) continue;
    if (!casts.empty()) {
      // A float32 output the patched norm never writes.
      e.newFree.emplace_back(i, s.allocSeq);
    } else if (norm && s.freeSeq >= 0 && s.freeSeq < span.backwardEnd) {
      // MS-norms save their output: it now lives until the norm's backward. Counted as added only when no
      // consumer kept it for backward already (no sharing).
      e.newFree.emplace_back(i, span.backwardEnd);
      if (s.aliveAt(p.backwardStartSeq)) {
        e.sharedOutputBytes += s.bytes;
      } else {
        e.addedBytes += s.bytes;
      }
    }
  }
  for (auto i : casts) {
    e.newFree.emplace_back(i, p.storages[i].allocSeq);
    e.releasedBytes += p.storages[i].bytes;
  }
}

}  // namespace

SiteEffect siteEffect(const Trace& t, const Profile& p, const SitePlan& plan, int occurrence,
                      int elementBytes) {
  if (plan.site.kind == SiteKind::kAttention) return attentionEffect(t, p, plan, occurrence);
  SiteEffect e;
  const auto ops = siteOps(t, plan, occurrence);
  if (ops.empty()) {
    e.note = "no matching op of " +
             (plan.site.modulePath.empty() ? std::string("the root") : plan.site.modulePath) +
             " in the trace";
    return e;
  }
  e.found = true;
  const auto span = siteSpan(t, ops);
  if (span.backwardEnd < 0) {
    e.note = "its input needs no gradient: no backward node keeps anything";
    return e;
  }
  const bool norm = isNormKind(plan.site.kind);
  const int64_t outputIndex = outputStorage(t, p, span);
  const int64_t outputBytes = outputIndex >= 0 ? p.storages[static_cast<size_t>(outputIndex)].bytes : 0;
  // Under autocast the consumers save 16-bit copies of a norm's output; the MS-norm writes that dtype
  // itself (kernels/autocast_ops.cpp), so the copies go and its own output is what they all keep.
  const auto casts = norm && outputIndex >= 0
                         ? savedCastsOf(t, p, p.storages[static_cast<size_t>(outputIndex)])
                         : std::vector<size_t>{};
  releaseHeldStorages(t, p, span, norm, casts, e);
  dropBackwardTemporaries(t, p, span, e);
  if (norm) dropFoldedGradients(t, p, plan, e);
  const uint64_t outputAddr = outputIndex >= 0 ? p.storages[static_cast<size_t>(outputIndex)].addr : 0;
  const int outputElementBytes =
      siteElementBytes(t, span.forward, outputAddr, span.backwardCalls, outputBytes, elementBytes);
  if (!casts.empty()) {
    // Autocast's 16-bit types; a consumer may have cast only a slice (a class token), so not a cast's size.
    const int64_t lowered = outputBytes / std::max(1, outputElementBytes) * 2;
    e.added.push_back({lowered, p.storages[static_cast<size_t>(outputIndex)].allocSeq, span.backwardEnd});
    // Added, not shared: before the patch its consumers kept their own copies (released above), not it.
    e.addedBytes += lowered;
  }
  if (norm && e.releasedBytes == 0) {
    // Nothing is saved for this norm's backward (its input and affine need no gradient): the MS-norm would
    // save nothing either.
    e = SiteEffect{};
    e.found = true;
    e.note = "its backward keeps nothing (its input and affine need no gradient)";
    return e;
  }
  if (outputBytes == 0) {
    e.found = false;
    e.note = "its output was not found in the trace";
    return e;
  }
  const int64_t n = outputBytes / std::max(1, outputElementBytes);
  const int64_t extra = norm ? 4 * (n / std::max<int64_t>(1, plan.normalizedSize)) : (n * plan.bits + 7) / 8;
  e.added.push_back({extra, span.forwardEnd, span.backwardEnd});
  e.addedBytes += extra;
  return e;
}

int64_t predictedPeak(const Profile& p, const std::vector<const SiteEffect*>& effects) {
  std::unordered_map<size_t, int64_t> newFree;
  for (const auto* e : effects) {
    for (const auto& [i, seq] : e->newFree) {
      auto it = newFree.find(i);
      // Two sites changing one storage: a release wins over an extension only if both release.
      newFree[i] = it == newFree.end() ? seq : std::max(it->second, seq);
    }
  }
  std::vector<std::pair<int64_t, int64_t>> deltas;  // seq, bytes
  int64_t total = 0;
  for (size_t i = 0; i < p.storages.size(); ++i) {
    const auto& s = p.storages[i];
    int64_t freeSeq = s.freeSeq;
    if (auto it = newFree.find(i); it != newFree.end()) freeSeq = it->second;
    if (s.allocSeq < 0) {
      total += s.bytes;
    } else {
      deltas.emplace_back(s.allocSeq, s.bytes);
    }
    if (freeSeq >= 0) deltas.emplace_back(freeSeq, -s.bytes);
  }
  for (const auto* e : effects) {
    for (const auto& a : e->added) {
      deltas.emplace_back(a.allocSeq, a.bytes);
      if (a.freeSeq >= 0) deltas.emplace_back(a.freeSeq, -a.bytes);
    }
  }
  // At one sequence number, frees go first (an op's end releases before anything later allocates).
  std::sort(deltas.begin(), deltas.end(), [](const auto& a, const auto& b) {
    return a.first < b.first || (a.first == b.first && a.second < b.second);
  });
  int64_t peak = total;
  for (const auto& [seq, bytes] : deltas) {
    total += bytes;
    peak = std::max(peak, total);
  }
  return peak;
}

}  // namespace lowmem
