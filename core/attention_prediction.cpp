#include "core/attention_prediction.h"

#include <algorithm>
#include <optional>
#include <set>

#include "core/attention_tiling.h"
#include "core/site_span.h"

namespace lowmem {
namespace {

// An op the interpreter ran for `module`'s own code in forward (not one such an op called).
bool ranByModule(const Trace& t, const OpEvent& op, const std::string& module) {
  return op.phase == Phase::kForward && op.scope == OpScope::kFunction && t.str(op.module) == module &&
         (op.parent < 0 || t.ops[static_cast<size_t>(op.parent)].scope != OpScope::kFunction);
}

bool isMatmul(const std::string& name) {
  return name == "aten::matmul" || name == "aten::bmm";
}

// baddbmm(mask, q, kᵀ): the scores and the mask in one op (F.multi_head_attention_forward).
const char* const kMaskedProduct = "aten::baddbmm";

struct ChainOps {
  std::set<int32_t> top;  // the chain's ops in the module's code
  int32_t scores = -1;    // matmul(q, kᵀ), or baddbmm(mask, q, kᵀ)
  int32_t qScale = -1;
  int32_t mask = -1;       // the add, masked_fill, where or baddbmm that applies the mask
  int32_t windowAdd = -1;  // the add of a window mask to the scores viewed with their batch split
  int32_t softmax = -1;
  int32_t output = -1;  // matmul(·, v)
};

// The rank of a shape in a recorded shape text; -1 when it is not there.
int64_t rankOf(const std::optional<std::vector<int64_t>>& shape) {
  return shape ? static_cast<int64_t>(shape->size()) : -1;
}

int64_t numelOf(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (const auto d : shape)
    n *= d;
  return n;
}

// The mask operand's shape of an add of the scores and a mask: the smaller of its two tensors (the scores
// are at least as large as what broadcasts into them); nullopt without shapes.
std::optional<std::vector<int64_t>> maskOperandShape(const Trace& t, const OpEvent& add) {
  const auto a = shapeArgument(t.str(add.inputShapes), 0), b = shapeArgument(t.str(add.inputShapes), 1);
  if (!a || !b) return std::nullopt;
  return numelOf(*a) < numelOf(*b) ? a : b;
}

// The occurrence-th softmax the module ran, and around it the ops the plan says the chain runs: back to the
// first matmul (and q's scale before it), on to the second.
std::optional<ChainOps> findChain(const Trace& t, const SitePlan& plan, int occurrence) {
  const auto& module = plan.site.modulePath;
  ChainOps c;
  int seen = 0;
  for (size_t i = 0; i < t.ops.size() && c.softmax < 0; ++i) {
    if (ranByModule(t, t.ops[i], module) && t.str(t.ops[i].name) == "aten::softmax" && seen++ == occurrence)
      c.softmax = static_cast<int32_t>(i);
  }
  if (c.softmax < 0) return std::nullopt;
  c.top.insert(c.softmax);
  const std::set<std::string> before(plan.attention.opsBefore.begin(), plan.attention.opsBefore.end());
  const int64_t scoresRank = rankOf(firstShape(t.str(t.ops[static_cast<size_t>(c.softmax)].inputShapes)));
  const std::set<std::string> after(plan.attention.opsAfter.begin(), plan.attention.opsAfter.end());
  for (int32_t i = c.softmax - 1; i >= 0; --i) {
    const auto& op = t.ops[static_cast<size_t>(i)];
    if (!ranByModule(t, op, module)) continue;
    const std::string& name = t.str(op.name);
    if (c.scores >= 0) {
      if (name != "aten::mul" && name != "aten::div") continue;
      c.qScale = i;
      c.top.insert(i);
      break;
    }
    if (isMatmul(name) || name == kMaskedProduct) {
      c.scores = i;
      c.top.insert(i);
      if (name == kMaskedProduct) c.mask = i;
      if (!plan.attention.scaledQ) break;
    } else if (before.count(name)) {
      c.top.insert(i);
      // The window mask's add reads the scores viewed with one dimension more (the shifted blocks run it).
      const auto shapes = t.str(op.inputShapes);
      if (plan.attention.windowMask && name == "aten::add" && c.windowAdd < 0 &&
          rankOf(shapeArgument(shapes, 0)) == scoresRank + 1) {
        c.windowAdd = i;
      } else if (plan.attention.masked &&
                 (name == "aten::add" || name == "aten::masked_fill" || name == "aten::where")) {
        c.mask = i;
      }
    }
  }
  // A window mask alone is the op's mask as it is.
  if (c.mask < 0) c.mask = c.windowAdd;
  const auto& dropoutModule = plan.attention.dropoutModule;
  for (size_t i = static_cast<size_t>(c.softmax) + 1; i < t.ops.size() && c.output < 0; ++i) {
    // The dropout module's own op is part of the chain: what it keeps (the mask) goes with the swap.
    if (!dropoutModule.empty() && ranByModule(t, t.ops[i], dropoutModule) &&
        after.count(t.str(t.ops[i].name))) {
      c.top.insert(static_cast<int32_t>(i));
      continue;
    }
    if (!ranByModule(t, t.ops[i], module)) continue;
    const std::string& name = t.str(t.ops[i].name);
    if (isMatmul(name)) c.output = static_cast<int32_t>(i);
    if (isMatmul(name) || after.count(name)) c.top.insert(static_cast<int32_t>(i));
  }
  if (c.scores < 0 || c.output < 0 || (plan.attention.scaledQ && c.qScale < 0)) return std::nullopt;
  return c;
}

// Whether `op` or an op enclosing it is one of `ops`.
bool withinAny(const Trace& t, int32_t op, const std::set<int32_t>& ops) {
  return t.enclosing(op, [&](int32_t at) { return ops.count(at) > 0; }) >= 0;
}

// The chain's ops and everything they called (matmul runs expand, reshape's copies and bmm).
std::vector<int32_t> withCallees(const Trace& t, const ChainOps& c) {
  std::vector<int32_t> ops;
  const auto first = *c.top.begin();
  const int64_t end = t.ops[static_cast<size_t>(c.output)].endSeq;
  for (size_t i = static_cast<size_t>(first); i < t.ops.size() && t.ops[i].beginSeq <= end; ++i) {
    if (withinAny(t, static_cast<int32_t>(i), c.top)) ops.push_back(static_cast<int32_t>(i));
  }
  return ops;
}

// The storage at `addr` alive when `op` began; -1 when none.
int64_t storageAt(const Trace& t, const Profile& p, uint64_t addr, int32_t op) {
  if (addr == 0) return -1;
  const int64_t seq = t.ops[static_cast<size_t>(op)].beginSeq;
  for (size_t i = 0; i < p.storages.size(); ++i) {
    const auto& s = p.storages[i];
    if (s.addr == addr && s.allocSeq <= seq && (s.freeSeq < 0 || s.freeSeq >= seq))
      return static_cast<int64_t>(i);
  }
  return -1;
}

// Query rows: the output's bytes over one row's (its last dimension and element size, from what matmul(·, v)
// returned), so that a plan's trace, whose bytes are fitted to another size, gives that size's rows; else the
// softmax input's dimensions but the last. -1 without shapes.
int64_t queryRows(const Trace& t, const ChainOps& c, const StorageLife* o) {
  for (const auto& out : t.outputs) {
    if (out.op != c.output || !o) continue;
    const auto dims = firstShape(t.str(out.shape));
    const int64_t row = !dims || dims->empty() ? 0 : dims->back() * dtypeElementBytes(t.str(out.dtype));
    if (row > 0) return o->bytes / row;
  }
  const auto dims = firstShape(t.str(t.ops[static_cast<size_t>(c.softmax)].inputShapes));
  if (!dims || dims->empty()) return -1;
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < dims->size(); ++d)
    rows *= (*dims)[d];
  return rows;
}

// What the op keeps that the chain did not make: q (before its scale), k, v and the mask.
std::set<size_t> keptInputs(const Trace& t, const Profile& p, const ChainOps& c, const SiteSpan& span) {
  std::set<size_t> kept;
  const auto keep = [&](uint64_t addr, int32_t op) {
    const auto i = storageAt(t, p, addr, op);
    if (i >= 0 && !span.allocatedBySite(t, p.storages[static_cast<size_t>(i)]))
      kept.insert(static_cast<size_t>(i));
  };
  const auto& first = t.ops[static_cast<size_t>(c.qScale >= 0 ? c.qScale : c.scores)];
  keep(first.inputStorage, c.qScale >= 0 ? c.qScale : c.scores);
  const auto& scores = t.ops[static_cast<size_t>(c.scores)];
  if (t.str(scores.name) == kMaskedProduct) {
    // baddbmm's kᵀ is its third argument: k's storage is the transpose's input, the module's last before.
    for (int32_t i = c.scores - 1; i >= 0; --i) {
      const auto& op = t.ops[static_cast<size_t>(i)];
      if (ranByModule(t, op, t.str(scores.module)) && t.str(op.name) == "aten::transpose") {
        keep(op.inputStorage, i);
        break;
      }
    }
  } else {
    keep(scores.secondInputStorage, c.scores);
  }
  keep(t.ops[static_cast<size_t>(c.output)].secondInputStorage, c.output);
  // With a window mask the op keeps the sum of both masks instead (windowMaskBytes).
  if (c.mask >= 0 && (c.windowAdd < 0 || c.mask == c.windowAdd)) {
    // The mask is add's or masked_fill's second argument, where's and baddbmm's first (where's second is
    // scores or a fill, baddbmm's q).
    const auto& op = t.ops[static_cast<size_t>(c.mask)];
    keep(op.inputStorage, c.mask);
    if (t.str(op.name) != "aten::where") keep(op.secondInputStorage, c.mask);
  }
  return kept;
}

// The mask the op keeps where a window mask comes with another one: the two summed ([1, nW, 1, sq, sk] and
// [1, H, sq, sk] make [1, nW, H, sq, sk]), a tensor the chain never made; 0 when there is no such sum.
int64_t windowMaskBytes(const Trace& t, const ChainOps& c) {
  if (c.windowAdd < 0 || c.mask == c.windowAdd) return 0;
  const auto& add = t.ops[static_cast<size_t>(c.windowAdd)];
  const auto window = maskOperandShape(t, add);
  const auto other = maskOperandShape(t, t.ops[static_cast<size_t>(c.mask)]);
  if (!window || !other) return 0;
  std::vector<int64_t> sum(std::max(window->size(), other->size()), 1);
  for (const auto* shape : {&*window, &*other}) {
    const size_t offset = sum.size() - shape->size();
    for (size_t d = 0; d < shape->size(); ++d)
      sum[offset + d] = std::max(sum[offset + d], (*shape)[d]);
  }
  int64_t elementBytes = 4;
  for (const auto& out : t.outputs) {
    if (out.op == c.windowAdd) elementBytes = std::max<int64_t>(1, dtypeElementBytes(t.str(out.dtype)));
  }
  return numelOf(sum) * elementBytes;
}

// The output: the largest storage made under matmul(·, v) alive when the chain's forward ends that its
// backward does not keep (that is v's contiguous copy).
int64_t outputStorage(const Trace& t, const Profile& p, const ChainOps& c, const SiteSpan& span) {
  int64_t index = -1, bytes = 0;
  for (size_t i = 0; i < p.storages.size(); ++i) {
    const auto& s = p.storages[i];
    if (t.ranWithin(s.allocOp, c.output) && !span.heldBySite(s) && s.aliveAt(span.forwardEnd) &&
        s.bytes > bytes) {
      bytes = s.bytes;
      index = static_cast<int64_t>(i);
    }
  }
  return index;
}

// The copy the head merge after the chain makes of its 4-d output (transpose(1, 2), then reshape or
// contiguous): the first op of the module that reads the output and allocates as many bytes; -1 when none.
// lowmem::attention's output is laid out so that this merge is a view.
int64_t mergeCopy(const Trace& t, const Profile& p, const ChainOps& c, const StorageLife& o) {
  for (size_t i = static_cast<size_t>(c.output) + 1; i < t.ops.size(); ++i) {
    const auto& op = t.ops[i];
    if (o.freeSeq >= 0 && op.beginSeq > o.freeSeq) break;
    if (!ranByModule(t, op, t.str(t.ops[static_cast<size_t>(c.output)].module)) || op.inputStorage != o.addr)
      continue;
    for (size_t j = 0; j < p.storages.size(); ++j) {
      const auto& s = p.storages[j];
      if (s.bytes == o.bytes && t.ranWithin(s.allocOp, static_cast<int32_t>(i)))
        return static_cast<int64_t>(j);
    }
  }
  return -1;
}

// The scores' shape [..., sq, sk] (the softmax's input) and the bytes of the op's arithmetic type for them
// (fp64 for an fp64 chain, fp32 otherwise); nullopt without shapes.
struct ScoresShape {
  std::vector<int64_t> dims;
  int64_t accBytes = 4;
  // The product of the leading dimensions (batch × heads), or of all of them.
  int64_t product(size_t leading) const {
    int64_t n = 1;
    for (size_t i = 0; i < leading; ++i)
      n *= dims[i];
    return n;
  }
  int64_t slices() const { return product(dims.size() - 2); }
  int64_t numel() const { return product(dims.size()); }
};

std::optional<ScoresShape> scoresShape(const Trace& t, const ChainOps& c) {
  auto dims = firstShape(t.str(t.ops[static_cast<size_t>(c.softmax)].inputShapes));
  if (!dims || dims->size() < 2) return std::nullopt;
  ScoresShape s{std::move(*dims)};
  for (const auto& out : t.outputs) {
    if (out.op == c.output && dtypeElementBytes(t.str(out.dtype)) == 8) s.accBytes = 8;
  }
  return s;
}

// The op's largest backward block scratch for these scores (core/attention_tiling.h), with the threads the
// step ran with.
int64_t backwardBlockBytes(const Trace& t, const ScoresShape& s, bool dropout) {
  const int64_t sq = s.dims[s.dims.size() - 2], sk = s.dims.back();
  const int64_t heads = s.dims.size() == 4 ? s.dims[1] : 1;
  const auto tiling = attentionTiling(s.slices(), sq, sk, heads, std::max(1, t.threads));
  return attentionBackwardBlockBytes(tiling, sq, sk, dropout, s.accBytes);
}

// A learned mask's gradient: the op fills the scores' gradient into one buffer from the start of its backward
// (fp32; fp64 for fp64). Where the chain passed its own scores' gradient on to the mask (an add of the
// scores' shape), that storage now lives from there; otherwise the buffer is one more transient, reduced to
// the mask's shape at the end.
// A gradient freed by the time the chain's backward has released what it frees (span.releasedBy) was not
// passed on, and goes with the chain's dP and dS.
void addMaskGradient(const Trace& t, const Profile& p, const ChainOps& c, const ScoresShape& scores,
                     const SiteSpan& span, int64_t backwardBegin, SiteEffect& e) {
  const int64_t bytes = scores.numel() * scores.accBytes;
  // The scores' gradient the chain's softmax backward made, passed on to the mask by the add's backward.
  const int64_t softmaxSeqNr = t.ops[static_cast<size_t>(c.softmax)].seqNr;
  const auto bySoftmaxBackward = [&](int32_t op) {
    return t.enclosing(op, [&](int32_t at) {
      return span.backwardNodes.count(at) > 0 && t.ops[static_cast<size_t>(at)].seqNr == softmaxSeqNr;
    }) >= 0;
  };
  for (size_t i = 0; i < p.storages.size(); ++i) {
    const auto& s = p.storages[i];
    if (s.bytes == bytes && s.allocOp >= 0 && (s.freeSeq < 0 || s.freeSeq > span.releasedBy) &&
        softmaxSeqNr >= 0 && bySoftmaxBackward(s.allocOp)) {
      e.added.push_back({s.bytes, backwardBegin, s.allocSeq});
      return;
    }
  }
  e.added.push_back({bytes, backwardBegin, span.backwardEnd});
}

}  // namespace

SiteEffect attentionEffect(const Trace& t, const Profile& p, const SitePlan& plan, int occurrence) {
  SiteEffect e;
  const auto chain = findChain(t, plan, occurrence);
  if (!chain) {
    e.note = "no attention chain of " +
             (plan.site.modulePath.empty() ? std::string("the root") : plan.site.modulePath) +
             " in the trace";
    return e;
  }
  const auto span = siteSpan(t, withCallees(t, *chain));
  const auto o = outputStorage(t, p, *chain, span);
  const int64_t rows = queryRows(t, *chain, o >= 0 ? &p.storages[static_cast<size_t>(o)] : nullptr);
  if (rows < 0) {
    e.note = "the trace has no shapes for its softmax (profile with --record-shapes)";
    return e;
  }
  e.found = true;
  if (span.backwardEnd < 0) {
    e.note = "its inputs need no gradient: no backward node keeps anything";
    return e;
  }
  auto kept = keptInputs(t, p, *chain, span);
  int64_t backwardBegin = span.backwardEnd;
  for (const auto n : span.backwardNodes)
    backwardBegin = std::min(backwardBegin, t.ops[static_cast<size_t>(n)].beginSeq);
  const auto merged = o >= 0 && firstShape(t.str(t.ops[static_cast<size_t>(chain->softmax)].inputShapes))
                                        .value_or(std::vector<int64_t>{})
                                        .size() == 4
                          ? mergeCopy(t, p, *chain, p.storages[static_cast<size_t>(o)])
                          : -1;
  if (merged >= 0) {
    // The merge's readers keep the op's output instead of the copy: it lives as long as either would.
    const auto& m = p.storages[static_cast<size_t>(merged)];
    e.newFree.emplace_back(static_cast<size_t>(merged), m.allocSeq);
    const int64_t until = m.freeSeq < 0 ? -1 : std::max(m.freeSeq, span.backwardEnd);
    e.newFree.emplace_back(static_cast<size_t>(o), until);
    e.sharedOutputBytes += p.storages[static_cast<size_t>(o)].bytes;
  } else if (o >= 0) {
    kept.insert(static_cast<size_t>(o));
  }
  for (size_t i = 0; i < p.storages.size(); ++i) {
    const auto& s = p.storages[i];
    if (merged >= 0 && (static_cast<int64_t>(i) == o || static_cast<int64_t>(i) == merged)) continue;
    if (kept.count(i)) {
      // Kept by the op until its backward ends; counted on both sides where the chain kept it too.
      if (span.heldBySite(s)) e.releasedBytes += s.bytes;
      if (s.freeSeq >= 0 && s.freeSeq <= span.backwardEnd) {
        e.newFree.emplace_back(i, span.backwardEnd);
        e.addedBytes += s.bytes;
      }
    } else if (span.heldBySite(s) && span.allocatedBySite(t, s)) {
      e.newFree.emplace_back(i, std::max(span.forwardEnd, s.allocSeq + 1));
      e.releasedBytes += s.bytes;
    } else if (s.allocOp >= 0 && s.freeSeq >= 0 && s.freeSeq <= span.releasedBy &&
               withinAny(t, s.allocOp, span.backwardNodes) && withinAny(t, s.freeOp, span.releasingOps)) {
      // Made and freed by the chain's backward (dP, dS; freed by the engine around their nodes too): the op's
      // backward makes its own, in tiles.
      e.newFree.emplace_back(i, s.allocSeq);
    }
  }
  const auto scores = scoresShape(t, *chain);
  if (plan.attention.maskGrad && scores) addMaskGradient(t, p, *chain, *scores, span, backwardBegin, e);
  const int64_t lse = rows * 4;
  e.added.push_back({lse, span.forwardEnd, span.backwardEnd});
  e.addedBytes += lse;
  if (const int64_t masks = windowMaskBytes(t, *chain); masks > 0) {
    e.added.push_back({masks, t.ops[static_cast<size_t>(chain->windowAdd)].beginSeq, span.backwardEnd});
    e.addedBytes += masks;
  }
  // The block the op's backward works on, alive while it runs (transient: not kept, not in addedBytes).
  if (scores)
    e.added.push_back(
        {backwardBlockBytes(t, *scores, plan.attention.dropout), backwardBegin, span.backwardEnd});
  return e;
}

}  // namespace lowmem
