#include "service/validation_task.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "core/error.h"
#include "profiler/step_setup.h"
#include "service/byte_corpus.h"
#include "service/data_sets.h"
#include "service/fashion_mnist.h"

namespace lowmem {
namespace {

at::TensorOptions longs() {
  return at::TensorOptions().dtype(at::kLong);
}

std::string shapeText(const at::Tensor& t) {
  std::string s = std::string(c10::toString(t.scalar_type())) + "[";
  for (int64_t d = 0; d < t.dim(); ++d)
    s += (d ? "," : "") + std::to_string(t.size(d));
  return s + "]";
}

// The held-out units rounded down to whole batches of the step's size (a traced model may fix it), at
// least one batch.
int64_t heldOutBatches(int64_t units, int64_t batch) {
  return std::max<int64_t>(1, units / batch);
}

// Fashion-MNIST fits a model taking one float image batch [B, 1 or 3, H, W] and returning [B, >= 10] logits.
bool takesImages(const TaskRequest& r) {
  const auto& x = r.example.front().toTensor();
  return r.example.size() == 1 && x.dim() == 4 && at::isFloatingType(x.scalar_type()) &&
         (x.size(1) == 1 || x.size(1) == 3) && r.output.dim() == 2 && r.output.size(1) >= 10;
}

// Bytes fit a model taking token ids [B, S] and returning [B, S, >= 256] logits.
bool takesBytes(const TaskRequest& r) {
  const auto& x = r.example.front().toTensor();
  return r.example.size() == 1 && x.dim() == 2 && !at::isFloatingType(x.scalar_type()) &&
         r.output.dim() == 3 && r.output.size(1) == x.size(1) && r.output.size(2) >= 256;
}

// The held-out units when the user gave none: the data's own default, cut so that measuring both models at
// every held-out point costs about as much as training them (an eval forward pass is about a third of a
// training step's work), but never below 128 units or 8 batches, under which the standard error swamps the
// verdict.
int heldOutDefault(const TaskRequest& r, int64_t dataDefault) {
  if (r.heldOutUnits > 0) return r.heldOutUnits;
  const int64_t batch = std::max<int64_t>(1, r.example.front().toTensor().size(0));
  int64_t units = dataDefault;
  if (r.steps > 0 && r.heldOutPoints > 0) {
    const int64_t costLikeTraining = 3 * int64_t{r.steps} * batch / r.heldOutPoints;
    units = std::min(units, std::max({costLikeTraining, int64_t{128}, 8 * batch}));
  }
  return static_cast<int>(units);
}

// Class patterns plus noise, token sequences with a quarter redrawn, x[t+1] = 5 x[t] + 3, or a fixed
// regression target: drawn from the model's own input and output shapes. The held-out set is fresh draws from
// a generator of its own.
class SyntheticTask : public ValidationTask {
 public:
  SyntheticTask(const TaskRequest& r, uint64_t seed, int heldOutUnits)
      : input_(r.example.front().toTensor()), gen_(at::detail::createCPUGenerator(seed + 4242)) {
    const bool single = r.example.size() == 1;
    const auto& output = r.output;
    if (single && output.dim() == 2 && output.size(1) >= 2) {
      loss_ = Loss::kClassify;
      classes_ = std::min<int64_t>(output.size(1), 10);
      auto shape = input_.sizes().vec();
      shape[0] = classes_;
      if (at::isFloatingType(input_.scalar_type())) {
        patterns_ = at::randn(shape, gen_) * 0.7;
        name_ =
            "classification: " + std::to_string(classes_) + " classes, each a fixed input pattern plus noise";
      } else {
        vocab_ = std::max<int64_t>(2, input_.max().item<int64_t>() + 1);
        patterns_ = at::randint(0, vocab_, shape, gen_, longs());
        name_ = "classification: " + std::to_string(classes_) +
                " classes, each a fixed token sequence with a quarter of its tokens redrawn";
      }
    } else if (single && !at::isFloatingType(input_.scalar_type()) && input_.dim() == 2 &&
               output.dim() == 3 && output.size(1) == input_.size(1)) {
      loss_ = Loss::kNextToken;
      vocab_ = std::min<int64_t>(output.size(2), 64);
      name_ = "next-token prediction: x[t+1] = (5 x[t] + 3) mod " + std::to_string(vocab_);
    } else {
      loss_ = Loss::kMse;
      target_ = at::randn(output.sizes(), gen_).to(output.device(), at::kFloat);
      name_ = "regression of the output onto a fixed random target (MSE; held out: the same input)";
    }
    // Held out: draws no training seed makes (a generator of its own).
    gen_ = at::detail::createCPUGenerator(seed + 7919);
    const int64_t batches = loss_ == Loss::kMse ? 1 : heldOutBatches(heldOutUnits, input_.size(0));
    for (int64_t i = 0; i < batches; ++i)
      heldOut_.push_back(next());
  }

  void reseed(uint64_t seed) override { gen_ = at::detail::createCPUGenerator(seed + 42); }

  // Drawn on the CPU (one generator whatever the device), used where the model runs.
  TaskBatch next() override {
    switch (loss_) {
      case Loss::kClassify: {
        auto labels = at::randint(0, classes_, {input_.size(0)}, gen_, longs());
        const auto pattern = patterns_.index_select(0, labels);
        if (patterns_.scalar_type() == at::kLong) {
          const auto redraw = at::rand(input_.sizes(), gen_) < 0.25;
          const auto noise = at::randint(0, vocab_, input_.sizes(), gen_, longs());
          return {{at::where(redraw, noise, pattern).to(device(), input_.scalar_type())},
                  labels.to(device())};
        }
        return {{(at::randn(input_.sizes(), gen_) + pattern).to(device(), input_.scalar_type())},
                labels.to(device())};
      }
      case Loss::kNextToken: {
        std::vector<at::Tensor> columns{at::randint(0, vocab_, {input_.size(0), 1}, gen_, longs())};
        for (int64_t t = 1; t < input_.size(1); ++t)
          columns.push_back((columns.back() * 5 + 3).remainder(vocab_));
        auto seq = at::cat(columns, 1).to(device());
        return {{seq.to(input_.scalar_type())}, seq};
      }
      default:
        return {{input_}, target_};
    }
  }

 private:
  at::Device device() const { return input_.device(); }

  at::Tensor input_, patterns_, target_;
  at::Generator gen_;
  int64_t classes_ = 0, vocab_ = 0;
};

// Fashion-MNIST: random training images each step, the test set's first images held out. Images are scaled to
// the training set's mean and standard deviation, resized to the model's input (bilinear) and repeated over
// its channels.
class ImageTask : public ValidationTask {
 public:
  ImageTask(const TaskRequest& r, const StepSpec& spec, int heldOutUnits)
      : data_(loadFashionMnist()), spec_(spec), gen_(at::detail::createCPUGenerator(0)) {
    const auto& x = r.example.front().toTensor();
    const std::string where = std::string(kFashionMnistDir);
    if (!takesImages(r)) {
      throw InputError(where,
                       "Fashion-MNIST needs a model taking one float image batch [B, 1 or 3, H, W] and "
                       "returning [B, 10 or more] logits; this one takes " +
                           shapeText(x) + " and returns " + shapeText(r.output));
    }
    shape_ = x.sizes().vec();
    const auto train = data_.train.images.to(at::kFloat) / 255.0;
    mean_ = train.mean().item<double>();
    std_ = train.std().item<double>();
    loss_ = Loss::kClassify;
    const int64_t b = shape_[0];
    const int64_t batches = std::min(heldOutBatches(heldOutUnits, b), data_.test.images.size(0) / b);
    for (int64_t i = 0; i < batches; ++i) {
      const auto idx = at::arange(i * b, (i + 1) * b, longs());
      heldOut_.push_back(batch(data_.test, idx));
    }
    name_ = "Fashion-MNIST (" + where + "): 10 classes, 60,000 training images, the first " +
            std::to_string(batches * b) + " of the 10,000 test images held out; images " +
            std::to_string(shape_[1]) + " x " + std::to_string(shape_[2]) + " x " + std::to_string(shape_[3]);
  }

  void reseed(uint64_t seed) override { gen_ = at::detail::createCPUGenerator(seed + 42); }

  TaskBatch next() override {
    return batch(data_.train, at::randint(0, data_.train.images.size(0), {shape_[0]}, gen_, longs()));
  }

 private:
  TaskBatch batch(const ImageSet& set, const at::Tensor& idx) const {
    auto x = ((set.images.index_select(0, idx).to(at::kFloat) / 255.0 - mean_) / std_).unsqueeze(1);
    if (shape_[2] != 28 || shape_[3] != 28) x = at::upsample_bilinear2d(x, {shape_[2], shape_[3]}, false);
    if (shape_[1] == 3) x = x.expand({-1, 3, -1, -1}).contiguous();
    return {{placeInput(x, spec_)}, set.labels.index_select(0, idx).to(stepDevice(spec_))};
  }

  FashionMnist data_;
  StepSpec spec_;
  at::Generator gen_;
  std::vector<int64_t> shape_;
  double mean_ = 0, std_ = 1;
};

// Next-byte prediction on a byte corpus: windows at random offsets of the training text; held out, windows
// evenly spaced over the held-out text.
class ByteTask : public ValidationTask {
 public:
  ByteTask(const TaskRequest& r, const StepSpec& spec, int heldOutUnits)
      : corpus_(loadByteCorpus()), spec_(spec), gen_(at::detail::createCPUGenerator(0)) {
    const auto& x = r.example.front().toTensor();
    if (!takesBytes(r)) {
      throw InputError(corpus_.source,
                       "the byte corpus needs a model taking token ids [B, S] and returning "
                       "[B, S, 256 or more] logits; this one takes " +
                           shapeText(x) + " and returns " + shapeText(r.output));
    }
    batch_ = x.size(0);
    length_ = x.size(1);
    dtype_ = x.scalar_type();
    loss_ = Loss::kNextToken;
    const int64_t span = static_cast<int64_t>(corpus_.heldOut.size()) - length_;
    const int64_t windows = heldOutBatches(heldOutUnits, batch_) * batch_;
    if (span <= windows) throw InputError(corpus_.source, "held-out text too short for the windows asked");
    std::vector<int64_t> offsets;
    for (int64_t i = 0; i < windows; ++i)
      offsets.push_back(i * (span / windows));
    for (int64_t i = 0; i < windows; i += batch_)
      heldOut_.push_back(windowsAt(corpus_.heldOut, {offsets.begin() + i, offsets.begin() + i + batch_}));
    name_ = "next-byte prediction on " + corpus_.source + "/*.py: " + std::to_string(corpus_.train.size()) +
            " bytes of " + std::to_string(corpus_.trainFiles) + " files to train on, " +
            std::to_string(windows) + " windows of " + std::to_string(length_) + " bytes held out from " +
            std::to_string(corpus_.heldOutFiles) + " others (every tenth file by name)";
  }

  void reseed(uint64_t seed) override { gen_ = at::detail::createCPUGenerator(seed + 42); }

  TaskBatch next() override {
    const auto offsets =
        at::randint(0, static_cast<int64_t>(corpus_.train.size()) - length_, {batch_}, gen_, longs());
    const auto* o = offsets.data_ptr<int64_t>();
    return windowsAt(corpus_.train, std::vector<int64_t>(o, o + batch_));
  }

 private:
  TaskBatch windowsAt(const std::string& text, const std::vector<int64_t>& offsets) const {
    auto seq =
        at::empty({static_cast<int64_t>(offsets.size()), length_}, at::TensorOptions().dtype(at::kByte));
    for (size_t i = 0; i < offsets.size(); ++i)
      std::memcpy(seq[static_cast<int64_t>(i)].data_ptr(), text.data() + offsets[i],
                  static_cast<size_t>(length_));
    const auto ids = seq.to(at::kLong).to(stepDevice(spec_));
    return {{ids.to(dtype_)}, ids};
  }

  ByteCorpus corpus_;
  StepSpec spec_;
  at::Generator gen_;
  int64_t batch_ = 0, length_ = 0;
  c10::ScalarType dtype_ = at::kLong;
};

// The user's batches (--data FILE): every tenth held out when there are ten or more; the rest trained on in a
// seeded order, a new shuffle each pass.
class BatchFileTask : public ValidationTask {
 public:
  BatchFileTask(std::vector<TaskBatch> batches, const std::string& path, const at::Tensor& output)
      : gen_(at::detail::createCPUGenerator(0)) {
    source_ = path;
    for (size_t i = 0; i < batches.size(); ++i)
      (batches.size() >= 10 && i % 10 == 9 ? heldOut_ : train_).push_back(batches[i]);
    const auto& t = train_.front().target;
    loss_ = !at::isFloatingType(t.scalar_type()) && output.dim() == 2 && t.dim() == 1 ? Loss::kClassify
            : !at::isFloatingType(t.scalar_type())                                    ? Loss::kIndices
                                                                                      : Loss::kMse;
    if (heldOut_.empty()) heldOut_ = train_;
    name_ = std::to_string(batches.size()) + " batches from " + path +
            (batches.size() >= 10 ? " (every tenth held out)"
                                  : " (fewer than 10: measured on the training batches)");
  }

  void reseed(uint64_t seed) override {
    gen_ = at::detail::createCPUGenerator(seed + 42);
    order_.clear();
  }

  TaskBatch next() override {
    if (order_.empty()) {
      const auto p = at::randperm(static_cast<int64_t>(train_.size()), gen_, longs());
      order_.assign(p.data_ptr<int64_t>(), p.data_ptr<int64_t>() + p.numel());
      std::reverse(order_.begin(), order_.end());
    }
    const auto i = order_.back();
    order_.pop_back();
    return train_[static_cast<size_t>(i)];
  }

 private:
  std::vector<TaskBatch> train_;
  std::vector<int64_t> order_;
  at::Generator gen_;
};

// --data FILE: a torch.save'd list or tuple of batches, each a tuple (input..., target) of tensors.
std::vector<TaskBatch> loadBatches(const std::string& path, const torch::jit::Module& module,
                                   const StepSpec& spec) {
  const auto value = readTorchSave(path, "data file");
  if (!value.isTuple() && !value.isList())
    throw InputError(
        path, "holds a " + value.tagKind() + "; expected a list or tuple of (input..., target) batches");
  const auto items = value.isTuple() ? value.toTupleRef().elements().vec() : value.toListRef().vec();
  if (items.empty()) throw InputError(path, "holds no batch");
  const size_t arguments = module.get_method("forward").function().getSchema().arguments().size() - 1;
  std::vector<TaskBatch> batches;
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& item = items[i];
    const auto parts = item.isTuple()  ? item.toTupleRef().elements().vec()
                       : item.isList() ? item.toListRef().vec()
                                       : std::vector<c10::IValue>{};
    if (parts.size() != arguments + 1) {
      throw InputError(path, "batch " + std::to_string(i) + " holds " + std::to_string(parts.size()) +
                                 " value(s); expected the model's " + std::to_string(arguments) +
                                 " input(s) and a target");
    }
    TaskBatch b;
    for (size_t k = 0; k < parts.size(); ++k) {
      if (!parts[k].isTensor())
        throw InputError(path, "batch " + std::to_string(i) + " value " + std::to_string(k) + " is a " +
                                   parts[k].tagKind() + ", not a tensor");
      const at::Tensor& t = parts[k].toTensor();
      // Inputs as every step input (device, and --dtype for floating ones); the target only moves: the losses
      // compute in float32.
      if (k + 1 < parts.size()) {
        b.inputs.push_back(placeInput(t, spec));
      } else {
        b.target = t.to(stepDevice(spec));
      }
    }
    batches.push_back(std::move(b));
  }
  return batches;
}

}  // namespace

void ValidationTask::checkFits(const at::Tensor& out, const at::Tensor& target) const {
  const bool fits =
      loss_ == Loss::kIndices ? out.dim() == target.dim() + 1 &&
                                    out.numel() / std::max<int64_t>(1, out.size(-1)) == target.numel()
      : loss_ == Loss::kMse ? at::isFloatingType(target.scalar_type()) && target.numel() == out.numel()
                            : true;  // the built-in tasks make their targets for the model's output
  if (!fits) {
    throw InputError(source_, "a batch's target " + shapeText(target) +
                                  " fits neither cross-entropy (class indices for logits with one more "
                                  "dimension) nor MSE against the model's output " +
                                  shapeText(out));
  }
}

at::Tensor ValidationTask::loss(const at::Tensor& out, const at::Tensor& target) const {
  checkFits(out, target);
  switch (loss_) {
    case Loss::kClassify:
      return at::cross_entropy_loss(out.to(at::kFloat), target);
    case Loss::kNextToken: {
      const int64_t v = out.size(2);
      auto logits = out.slice(1, 0, out.size(1) - 1).reshape({-1, v}).to(at::kFloat);
      return at::cross_entropy_loss(logits, target.slice(1, 1).reshape({-1}));
    }
    case Loss::kIndices:
      return at::cross_entropy_loss(out.reshape({-1, out.size(-1)}).to(at::kFloat),
                                    target.reshape({-1}).to(at::kLong));
    case Loss::kMse:
      return at::mse_loss(out.to(at::kFloat), target.reshape(out.sizes()).to(at::kFloat));
  }
  return {};
}

at::Tensor ValidationTask::unitLosses(const at::Tensor& out, const at::Tensor& target) const {
  checkFits(out, target);
  const auto none = at::Reduction::None;
  const auto o = out.to(at::kDouble);
  switch (loss_) {
    case Loss::kClassify:
      return at::cross_entropy_loss(o, target, {}, none);
    case Loss::kNextToken: {
      const int64_t b = out.size(0), s = out.size(1);
      auto logits = o.slice(1, 0, s - 1).reshape({-1, out.size(2)});
      return at::cross_entropy_loss(logits, target.slice(1, 1).reshape({-1}), {}, none)
          .reshape({b, s - 1})
          .mean(1);
    }
    case Loss::kIndices: {
      auto each =
          at::cross_entropy_loss(o.reshape({-1, out.size(-1)}), target.reshape({-1}).to(at::kLong), {}, none);
      return each.reshape({out.size(0), -1}).mean(1);
    }
    case Loss::kMse:
      return (o - target.reshape(out.sizes()).to(at::kDouble)).pow(2).reshape({out.size(0), -1}).mean(1);
  }
  return {};
}

int64_t ValidationTask::correct(const at::Tensor& out, const at::Tensor& target) const {
  return out.argmax(1).eq(target).sum().item<int64_t>();
}

std::unique_ptr<ValidationTask> makeValidationTask(const TaskRequest& r, const torch::jit::Module& module,
                                                   const StepSpec& spec) {
  // No --data: the real data set the model takes, where it is installed. A synthetic task can be solved to a
  // loss near zero or reward memorising a table; real data is what the swaps are claimed for.
  const bool chosen = r.data.empty();
  const std::string data = !chosen          ? r.data
                           : takesImages(r) ? kFashionMnistData
                           : takesBytes(r)  ? kTextData
                                            : kSyntheticData;
  try {
    if (data == kFashionMnistData) return std::make_unique<ImageTask>(r, spec, heldOutDefault(r, 2000));
    if (data == kTextData) return std::make_unique<ByteTask>(r, spec, heldOutDefault(r, 256));
  } catch (const InputError& e) {
    if (!chosen) throw;
    spdlog::warn("{}; validating on a synthetic task instead", e.what());
  }
  if (!namesDataSet(data))
    return std::make_unique<BatchFileTask>(loadBatches(data, module, spec), data, r.output);
  const int64_t batch = std::max<int64_t>(1, r.example.front().toTensor().size(0));
  return std::make_unique<SyntheticTask>(r, spec.seed, heldOutDefault(r, std::max<int64_t>(128, 8 * batch)));
}

}  // namespace lowmem
