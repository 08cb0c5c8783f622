#include "profiler/step_tracer.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <torch/csrc/jit/runtime/interpreter.h>

#include <stdexcept>
#include <vector>

#include "core/large_vector.h"
#include "core/module_path.h"
#include "core/step_choices.h"
#include "profiler/scalar_type.h"

namespace lowmem {
namespace {

std::atomic<StepTracer*> gActive{nullptr};

// Open ops of this thread, innermost last: the parent of a new op and the owner of an allocation.
thread_local std::vector<int32_t> tOpenOps;

struct OpContext : at::ObserverContext {
  explicit OpContext(int32_t i) : op(i) {}
  int32_t op;
};

OpScope scopeOf(at::RecordScope scope) {
  switch (scope) {
    case at::RecordScope::FUNCTION:
      return OpScope::kFunction;
    case at::RecordScope::BACKWARD_FUNCTION:
      return OpScope::kBackward;
    case at::RecordScope::TORCHSCRIPT_FUNCTION:
      return OpScope::kTorchScript;
    default:
      return OpScope::kOther;
  }
}

// "TOP(VisionTransformer)::forward", "encoder(Encoder)::forward", ... -> "encoder(Encoder)...": instance
// names with their classes, which ModulePathResolver turns into dotted paths after the step (the interpreter
// drops the names of containers such as ModuleList).
std::string moduleFrames() {
  std::string path;
  const auto frames = torch::jit::currentModuleHierarchy();
  for (size_t i = 1; i < frames.size(); ++i) {
    const auto& f = frames[i];
    const auto paren = f.find('(');
    const auto close = paren == std::string::npos ? paren : f.find(')', paren);
    // Free functions appear as "::layer_norm" (a call stack entry) or "layer_norm()::layer_norm" (a frame
    // with no module as self): no instance, not part of the module path. "SELF" is the same instance.
    if (close == std::string::npos || close == paren + 1 || paren == 0) continue;
    if (f.compare(0, paren, "SELF") == 0 || f.find("::") < paren) continue;
    path += (path.empty() ? "" : ".") + f.substr(0, close + 1);
  }
  return path;
}

// "[2,197,768]": a tensor by its sizes.
std::string shapeText(const at::Tensor& t) {
  std::string text = "[";
  for (int64_t d = 0; d < t.dim(); ++d)
    text += (d ? "," : "") + std::to_string(t.size(d));
  return text + "]";
}

struct RecordedInputs {
  std::string shapes;          // "[2,197,768] [768] 1": tensors by their sizes, scalars by value, else kinds
  uint64_t firstStorage = 0;   // the storage of the first tensor argument
  uint64_t secondStorage = 0;  // and of the second
};

// The op's own arguments. LibTorch 1.13 hands a boxed call (every op the TorchScript interpreter runs) the
// interpreter's whole stack, whose last entries are the arguments: the schema says how many.
auto ownArguments(const at::RecordFunction& fn) {
  auto inputs = fn.inputs();
  if (const auto schema = fn.operator_schema()) {
    const size_t n = schema->arguments().size();
    if (inputs.size() > n) inputs = inputs.slice(inputs.size() - n);
  }
  return inputs;
}

RecordedInputs recordInputs(const at::RecordFunction& fn) {
  RecordedInputs r;
  std::string& text = r.shapes;
  for (const auto& v : ownArguments(fn)) {
    if (!text.empty()) text += ' ';
    if (v.isTensor()) {
      const auto& t = v.toTensor();
      if (!t.defined()) {
        text += "undefined";
        continue;
      }
      if (t.has_storage()) {
        const auto addr = reinterpret_cast<uint64_t>(t.storage().data());
        if (r.firstStorage == 0) {
          r.firstStorage = addr;
        } else if (r.secondStorage == 0) {
          r.secondStorage = addr;
        }
      }
      text += shapeText(t);
    } else if (v.isInt()) {
      text += std::to_string(v.toInt());
    } else if (v.isDouble()) {
      text += std::to_string(v.toDouble());
    } else if (v.isIntList()) {
      text += c10::str(v.toIntVector());
    } else {
      text += v.tagKind();
    }
  }
  return r;
}

// The op's own results: a boxed call's "outputs" are the interpreter's whole stack after the call, whose last
// entries are the results (the schema says how many).
std::vector<RecordedOutput> recordOutputs(const at::RecordFunction& fn) {
  std::vector<RecordedOutput> out;
  c10::ArrayRef<c10::IValue> values = fn.outputs();
  if (const auto schema = fn.operator_schema()) {
    const size_t n = schema->returns().size();
    if (values.size() > n) values = values.slice(values.size() - n);
  }
  const auto add = [&](const at::Tensor& t) {
    if (!t.defined() || !t.has_storage() || !t.storage().data()) return;
    RecordedOutput r;
    r.addr = reinterpret_cast<uint64_t>(t.storage().data());
    r.shape = shapeText(t);
    const auto dtype = dtypeOf(t.scalar_type());
    r.dtype = dtype ? nameOf(*dtype) : std::string(c10::toString(t.scalar_type()));
    out.push_back(std::move(r));
  };
  for (const auto& v : values) {
    if (v.isTensor()) {
      add(v.toTensor());
    } else if (v.isTensorList()) {
      for (const at::Tensor& t : v.toTensorVector())
        add(t);
    }
  }
  return out;
}

std::unique_ptr<at::ObserverContext> onOpStart(const at::RecordFunction& fn) {
  StepTracer* tracer = gActive.load(std::memory_order_acquire);
  if (!tracer) return nullptr;
  const auto scope = scopeOf(fn.scope());
  const bool shapes = tracer->recordsShapes() && scope == OpScope::kFunction;
  const auto inputs = shapes ? recordInputs(fn) : RecordedInputs{};
  return std::make_unique<OpContext>(tracer->beginOp(fn.name(), scope, fn.seqNr(), inputs.shapes,
                                                     {inputs.firstStorage, inputs.secondStorage}));
}

void onOpEnd(const at::RecordFunction& fn, at::ObserverContext* ctx) {
  StepTracer* tracer = gActive.load(std::memory_order_acquire);
  if (!tracer || !ctx) return;
  const int32_t op = static_cast<OpContext*>(ctx)->op;
  if (tracer->recordsShapes() && fn.scope() == at::RecordScope::FUNCTION)
    tracer->addOutputs(op, recordOutputs(fn));
  tracer->endOp(op);
}

}  // namespace

StepTracer::StepTracer(bool recordShapes, size_t reserveEvents)
    : interner_(trace_.strings), recordShapes_(recordShapes) {
  // Faulted in now: first-touch page faults on these buffers during the step were most of the tracer's cost
  // (in a perf profile of vit-tiny, most of beginOp went to the store into a fresh page).
  reservePrefaulted(trace_.memory, reserveEvents);
  reservePrefaulted(trace_.ops, reserveEvents / 2);
}

StepTracer::~StepTracer() {
  if (running_) stop();
}

int64_t StepTracer::nowNs() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0_).count();
}

void StepTracer::start() {
  StepTracer* expected = nullptr;
  if (!gActive.compare_exchange_strong(expected, this))
    throw std::logic_error("another StepTracer is running");
  t0_ = std::chrono::steady_clock::now();
  tOpenOps.clear();
  trace_.threads = at::get_num_threads();
  if (CuptiBackend::built()) {
    const std::string why = cupti_.start();
    trace_.deviceTracing = why.empty() ? "cupti: kernels, memcpy, memset, runtime, memory2" : "cupti " + why;
  } else {
    trace_.deviceTracing = "cupti " + cupti_.start();
  }
  // A non-owning shared_ptr: the guard must not delete the tracer.
  guard_.emplace(c10::DebugInfoKind::PROFILER_STATE, std::shared_ptr<c10::DebugInfoBase>(this, [](auto*) {}));
  callbackHandle_ =
      at::addGlobalCallback(at::RecordFunctionCallback(onOpStart, onOpEnd)
                                .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION,
                                         at::RecordScope::TORCHSCRIPT_FUNCTION})
                                .needsInputs(recordShapes_)
                                .needsOutputs(recordShapes_));
  running_ = true;
}

void StepTracer::stop() {
  if (!running_) return;
  at::removeCallback(callbackHandle_);
  guard_.reset();
  cupti_.stop(trace_, interner_);
  gActive.store(nullptr, std::memory_order_release);
  running_ = false;
}

void StepTracer::resolveModulePaths(const std::function<std::string(const std::string&)>& resolve) {
  std::unordered_map<StringId, StringId> resolved;
  for (auto& op : trace_.ops) {
    auto it = resolved.find(op.module);
    if (it == resolved.end())
      it = resolved.emplace(op.module, interner_.intern(resolve(trace_.str(op.module)))).first;
    op.module = it->second;
  }
  // A TorchScript call's own frames are read when it begins, before LibTorch 1.13's interpreter has moved to
  // the call: it reports the instance of the previous call (block_1's forward as block_0). What a call runs
  // is named right, so a call is given the common path of everything it ran (children before parents).
  constexpr StringId kNone = -1;
  std::vector<StringId> ran(trace_.ops.size(), kNone);
  for (size_t i = trace_.ops.size(); i-- > 0;) {
    auto& op = trace_.ops[i];
    if (op.scope == OpScope::kTorchScript && ran[i] != kNone) op.module = ran[i];
    if (op.parent < 0) continue;
    auto& common = ran[static_cast<size_t>(op.parent)];
    if (common == kNone) {
      common = op.module;
    } else if (common != op.module) {
      common = interner_.intern(commonPath(trace_.str(common), trace_.str(op.module)));
    }
  }
}

void StepTracer::markPhase(Phase phase) {
  std::lock_guard<std::mutex> lock(mutex_);
  phase_ = phase;
  trace_.phases.push_back({phase, seq_++, nowNs()});
}

void StepTracer::addKnown(uint64_t addr, int64_t bytes, KnownRole role, const std::string& name,
                          bool preexisting) {
  std::lock_guard<std::mutex> lock(mutex_);
  trace_.known.push_back({addr, bytes, role, interner_.intern(name), preexisting});
}

void StepTracer::reportMemoryUsage(void* ptr, int64_t bytes, ReporterTotal, ReporterTotal,
                                   c10::Device device) {
  if (!running_ || bytes == 0) return;
  std::lock_guard<std::mutex> lock(mutex_);
  MemoryEvent e;
  e.seq = seq_++;
  e.timeNs = nowNs();
  e.addr = reinterpret_cast<uint64_t>(ptr);
  e.bytes = bytes;
  e.op = tOpenOps.empty() ? -1 : tOpenOps.back();
  e.device = device.is_cpu() ? -1 : static_cast<int8_t>(device.index());
  trace_.memory.push_back(e);
}

int32_t StepTracer::beginOp(const char* name, OpScope scope, int64_t seqNr, const std::string& inputShapes,
                            std::array<uint64_t, 2> inputStorages) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int32_t parent = tOpenOps.empty() ? -1 : tOpenOps.back();
  // Module paths come from the interpreter for the ops it calls directly; nested ATen ops inherit theirs,
  // which saves reading the interpreter's stack (strings built with malloc) for every op.
  const bool wantModule =
      scope != OpScope::kBackward && (parent < 0 || scope == OpScope::kTorchScript ||
                                      trace_.ops[static_cast<size_t>(parent)].scope != OpScope::kFunction);
  const std::string module = wantModule ? moduleFrames() : std::string();
  OpEvent op;
  if (scope == OpScope::kBackward) {
    // Autograd node names live in strings of the engine's RecordFunction, a different name at the same
    // address each time: by text.
    op.name = interner_.intern(name);
  } else {
    // Operator and TorchScript function names are static strings: by address, confirmed by text.
    auto known = namesByPointer_.find(name);
    if (known == namesByPointer_.end() || trace_.strings[static_cast<size_t>(known->second)] != name)
      known = namesByPointer_.insert_or_assign(name, interner_.intern(name)).first;
    op.name = known->second;
  }
  op.scope = scope;
  op.phase = phase_;
  op.seqNr = seqNr;
  op.parent = parent;
  op.module = wantModule ? interner_.intern(module)
                         : (parent >= 0 ? trace_.ops[static_cast<size_t>(parent)].module : 0);
  if (!inputShapes.empty()) op.inputShapes = interner_.intern(inputShapes);
  op.inputStorage = inputStorages[0];
  op.secondInputStorage = inputStorages[1];
  op.beginSeq = seq_++;
  op.beginNs = nowNs();
  const auto index = static_cast<int32_t>(trace_.ops.size());
  trace_.ops.push_back(op);
  tOpenOps.push_back(index);
  CuptiBackend::pushOp(index);
  return index;
}

void StepTracer::addOutputs(int32_t op, const std::vector<RecordedOutput>& outputs) {
  if (outputs.empty()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (isAllocationHelper(trace_.opName(op))) return;
  for (const auto& o : outputs)
    trace_.outputs.push_back({op, o.addr, interner_.intern(o.shape), interner_.intern(o.dtype)});
}

void StepTracer::endOp(int32_t op) {
  std::lock_guard<std::mutex> lock(mutex_);
  CuptiBackend::popOp();
  auto& e = trace_.ops[static_cast<size_t>(op)];
  e.endSeq = seq_++;
  e.endNs = nowNs();
  // Ops end in stack order on their thread; tolerate a mismatch rather than corrupt the stack.
  if (!tOpenOps.empty() && tOpenOps.back() == op) {
    tOpenOps.pop_back();
  } else {
    for (auto it = tOpenOps.rbegin(); it != tOpenOps.rend(); ++it) {
      if (*it == op) {
        tOpenOps.erase(std::next(it).base());
        break;
      }
    }
  }
}

}  // namespace lowmem
