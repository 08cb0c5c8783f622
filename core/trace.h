#pragma once
// What the tracer records during one training step, as flat vectors with interned strings (heaptrack's
// shape): every allocation and free, every op begin/end, the phase boundaries, and the storages that existed
// before the step (whose allocation the tracer could not see). One sequence counter orders all of them.

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lowmem {

enum class Phase : uint8_t { kBefore = 0, kForward, kLoss, kBackward, kOptimizer, kAfter };
inline constexpr int kPhaseCount = 6;
const char* phaseName(Phase phase);

enum class OpScope : uint8_t {
  kFunction,     // an ATen op
  kBackward,     // an autograd node (GeluBackward0, CppNode<...>)
  kTorchScript,  // a TorchScript method call
  kOther,
};
const char* opScopeName(OpScope scope);

// Why a storage that predates the step is alive.
enum class KnownRole : uint8_t { kParameter, kGradient, kOptimizerState, kInput, kBuffer, kOutput };
const char* knownRoleName(KnownRole role);

using StringId = int32_t;  // index into Trace::strings; 0 is ""

struct MemoryEvent {
  int64_t seq = 0;
  int64_t timeNs = 0;
  uint64_t addr = 0;
  int64_t bytes = 0;   // > 0 allocation, < 0 free
  int32_t op = -1;     // innermost op open at the event, index into Trace::ops
  int8_t device = -1;  // -1 CPU, else CUDA device index
};

struct OpEvent {
  StringId name = 0;
  OpScope scope = OpScope::kOther;
  Phase phase = Phase::kBefore;
  int64_t seqNr = -1;   // autograd sequence number: joins a backward node to its forward op
  StringId module = 0;  // dotted module path for ops run by the TorchScript interpreter; "" otherwise
  int32_t parent = -1;  // enclosing op
  int64_t beginSeq = 0;
  int64_t endSeq = -1;  // -1 if still open when the trace ended
  int64_t beginNs = 0;
  int64_t endNs = 0;
  StringId inputShapes = 0;  // "[2,197,768] [768]" for ATen ops when shapes were recorded; "" otherwise
  // With shapes: the storage address of the first tensor argument, the data flow that tells an autocast
  // cast's source (peak prediction under --amp). Not stored in sessions: read from the live trace.
  uint64_t inputStorage = 0;
  uint64_t secondInputStorage = 0;  // the second tensor argument's: an attention's k, v and mask
};

// With shapes: a tensor an ATen op returned, by the storage it lives in, which gives a storage its shape and
// dtype. Ops that only allocate (aten::empty and kin, see isAllocationHelper) are not recorded: the op that
// called them returns the tensor the model uses.
struct OpOutput {
  int32_t op = -1;     // index into Trace::ops
  uint64_t addr = 0;   // the storage's data pointer, as memory events name it
  StringId shape = 0;  // "[2,197,768]"
  StringId dtype = 0;  // "float32"
};

// Bytes of one element of a recorded dtype ("float32" -> 4); 0 for a name it does not know.
int64_t dtypeElementBytes(const std::string& dtype);

struct PhaseMark {
  Phase phase = Phase::kBefore;
  int64_t seq = 0;
  int64_t timeNs = 0;
};

// A storage the step's caller knows about: parameters, their gradients, optimizer state, inputs, outputs.
// `preexisting` storages were allocated before tracing began and count towards the baseline.
struct KnownStorage {
  uint64_t addr = 0;
  int64_t bytes = 0;
  KnownRole role = KnownRole::kParameter;
  StringId name = 0;
  bool preexisting = false;
};

// A GPU activity recorded by CUPTI, joined to the op that launched it through the external correlation id the
// tracer pushes around every op.
struct DeviceActivity {
  enum class Kind : uint8_t { kKernel, kMemcpy, kMemset, kRuntime, kMemory };
  Kind kind = Kind::kKernel;
  StringId name = 0;
  int64_t startNs = 0;  // CUPTI timestamps
  int64_t endNs = 0;
  int64_t bytes = 0;  // memcpy/memset/memory records
  int32_t op = -1;    // the launching op, from the external correlation id; -1 when none was pushed
};
const char* deviceActivityKindName(DeviceActivity::Kind kind);

// ATen ops that only allocate for their caller ("aten::empty", "aten::empty_strided", "aten::resize_", ...):
// memory is charged to, and tensors named by, the op that called them.
bool isAllocationHelper(const std::string& opName);

struct Trace {
  std::vector<std::string> strings{""};
  std::vector<MemoryEvent> memory;
  std::vector<OpEvent> ops;
  std::vector<PhaseMark> phases;
  std::vector<KnownStorage> known;
  std::vector<DeviceActivity> device;
  std::vector<OpOutput> outputs;  // in the order the ops ended; empty without --record-shapes
  // "cupti: ..." when GPU tracing ran, or why it did not ("unavailable: ...", "not built: ...").
  std::string deviceTracing = "not used: CPU step";
  // Intra-op threads the step ran with (how lowmem::attention cut its work); 0 when not recorded (sessions
  // read back).
  int threads = 0;
  int64_t droppedDeviceRecords = 0;
  // The model's modules by dotted path ("" the root) and class name without its namespace ("Attention"), as
  // the traced model held them: module types for reports, Chrome trace spans and the studio's tree. Empty
  // for sessions written before they were recorded.
  std::map<std::string, std::string> moduleTypes;

  const std::string& str(StringId id) const { return strings[static_cast<size_t>(id)]; }
  // The name of op `op` ("aten::gelu"); "" for -1 (no op).
  const std::string& opName(int32_t op) const { return str(op >= 0 ? ops[static_cast<size_t>(op)].name : 0); }
  // The class of the module at `path`; "" when not recorded.
  const std::string& moduleType(const std::string& path) const;
  // The nearest of `op` and the ops enclosing it (its callers, any depth) that `pick` accepts; -1 when none.
  template <typename Pick>
  int32_t enclosing(int32_t op, Pick&& pick) const {
    for (; op >= 0; op = ops[static_cast<size_t>(op)].parent) {
      if (pick(op)) return op;
    }
    return -1;
  }
  // Whether `op` is `ancestor` or ran inside it.
  bool ranWithin(int32_t op, int32_t ancestor) const {
    return ancestor >= 0 && enclosing(op, [ancestor](int32_t at) { return at == ancestor; }) >= 0;
  }
};

// The sizes of the first tensor in a recorded shape text ("[2,197,768] [768]" -> {2, 197, 768}; "[]", a
// scalar, -> {}); nullopt when the text holds no shapes.
std::optional<std::vector<int64_t>> firstShape(const std::string& shapes);

// The sizes of the n-th bracketed argument ("[4,2,16,16] [1,2,16,16] 1", 1 -> {1, 2, 16, 16}); nullopt when
// there are fewer or it is not a shape.
std::optional<std::vector<int64_t>> shapeArgument(const std::string& shapes, size_t n);

// Interns strings into a Trace's table while recording. Looked up by string_view, so finding a string already
// interned allocates nothing (the tracer interns every backward node's name and many module paths).
class StringInterner {
 public:
  explicit StringInterner(std::vector<std::string>& table);
  StringId intern(std::string_view text);

 private:
  std::vector<std::string>& table_;
  std::deque<std::string> keys_;  // the index's keys: a deque never moves its strings, the table may
  std::unordered_map<std::string_view, StringId> index_;
};

}  // namespace lowmem
