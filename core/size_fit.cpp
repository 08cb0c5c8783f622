#include "core/size_fit.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>
#include <unordered_map>

namespace lowmem {
namespace {

double termValue(const std::string& term, const StepSize& z) {
  const auto b = static_cast<double>(z.batch), s = static_cast<double>(z.seq);
  if (term == "1") return 1;
  if (term == "s") return s;
  if (term == "s²") return s * s;
  if (term == "b") return b;
  if (term == "b·s") return b * s;
  return b * s * s;  // "b·s²"
}

// (AᵀA)⁻¹Aᵀ for the design matrix of `terms` at `sizes` (columns scaled for conditioning, folded back), or
// empty when the sizes cannot tell the terms apart.
std::vector<std::vector<double>> pseudoInverse(const std::vector<std::string>& terms,
                                               const std::vector<StepSize>& sizes) {
  const size_t k = terms.size(), n = sizes.size();
  std::vector<std::vector<double>> a(n, std::vector<double>(k));
  std::vector<double> scale(k, 0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < k; ++j) {
      a[i][j] = termValue(terms[j], sizes[i]);
      scale[j] = std::max(scale[j], std::abs(a[i][j]));
    }
  }
  for (size_t j = 0; j < k; ++j) {
    if (scale[j] == 0) return {};
    for (size_t i = 0; i < n; ++i)
      a[i][j] /= scale[j];
  }
  // [AᵀA | Aᵀ], reduced to [I | (AᵀA)⁻¹Aᵀ] with partial pivoting.
  std::vector<std::vector<double>> m(k, std::vector<double>(k + n, 0));
  for (size_t r = 0; r < k; ++r) {
    for (size_t c = 0; c < k; ++c) {
      for (size_t i = 0; i < n; ++i)
        m[r][c] += a[i][r] * a[i][c];
    }
    for (size_t i = 0; i < n; ++i)
      m[r][k + i] = a[i][r];
  }
  for (size_t col = 0; col < k; ++col) {
    size_t pivot = col;
    for (size_t r = col + 1; r < k; ++r) {
      if (std::abs(m[r][col]) > std::abs(m[pivot][col])) pivot = r;
    }
    if (std::abs(m[pivot][col]) < 1e-9) return {};
    std::swap(m[col], m[pivot]);
    const double d = m[col][col];
    for (auto& v : m[col])
      v /= d;
    for (size_t r = 0; r < k; ++r) {
      if (r == col || m[r][col] == 0) continue;
      const double f = m[r][col];
      for (size_t c = 0; c < k + n; ++c)
        m[r][c] -= f * m[col][c];
    }
  }
  std::vector<std::vector<double>> p(k, std::vector<double>(n));
  for (size_t r = 0; r < k; ++r) {
    for (size_t i = 0; i < n; ++i)
      p[r][i] = m[r][k + i] / scale[r];
  }
  return p;
}

// The first difference between the template's events and another trace's, or "".
std::string misalignment(const Trace& t, const StepSize& tSize, const Trace& o, const StepSize& oSize) {
  const auto where = [&](size_t i) {
    return " (event " + std::to_string(i) + ", in " + t.opName(t.memory[i].op) + " at " +
           stepSizeText(tSize) + ", " + o.opName(o.memory[i].op) + " at " + stepSizeText(oSize) + ")";
  };
  if (t.memory.size() != o.memory.size()) {
    return "the step allocates and frees " + std::to_string(o.memory.size()) + " times at " +
           stepSizeText(oSize) + " and " + std::to_string(t.memory.size()) + " times at " +
           stepSizeText(tSize) +
           ": its allocations change with the size, so no event-by-event fit exists (size-1 "
           "dimensions often take other code paths: fit on sizes of 2 and more)";
  }
  for (size_t i = 0; i < t.memory.size(); ++i) {
    if ((t.memory[i].bytes > 0) != (o.memory[i].bytes > 0) ||
        t.opName(t.memory[i].op) != o.opName(o.memory[i].op))
      return "the step's allocations differ between sizes" + where(i);
  }
  if (t.known.size() != o.known.size())
    return "the step names " + std::to_string(o.known.size()) + " storages at " + stepSizeText(oSize) +
           " and " + std::to_string(t.known.size()) + " at " + stepSizeText(tSize);
  for (size_t i = 0; i < t.known.size(); ++i) {
    if (t.known[i].role != o.known[i].role || t.str(t.known[i].name) != o.str(o.known[i].name))
      return "the step's named storages differ between sizes (" + t.str(t.known[i].name) + ")";
  }
  return {};
}

}  // namespace

std::string stepSizeText(const StepSize& size) {
  std::string text;
  if (size.batch > 0) text = "batch " + std::to_string(size.batch);
  if (size.seq > 0) text += (text.empty() ? "" : ", ") + std::string("seq ") + std::to_string(size.seq);
  return text.empty() ? "the spec's size" : text;
}

SizeFit::SizeFit(std::vector<std::pair<StepSize, Trace>> traced) {
  if (traced.size() < 2) throw std::invalid_argument("a fit needs steps traced at two sizes or more");
  std::set<int64_t> batches, seqs;
  for (const auto& [size, trace] : traced) {
    sizes_.push_back(size);
    batches.insert(size.batch);
    seqs.insert(size.seq);
  }
  batchVaries_ = batches.size() > 1;
  seqVaries_ = seqs.size() > 1;
  if (batchVaries_ && seqVaries_) {
    terms_ = {"1", "s", "b", "b·s", "b·s²"};
  } else if (seqVaries_) {
    terms_ = seqs.size() > 2 ? std::vector<std::string>{"1", "s", "s²"} : std::vector<std::string>{"1", "s"};
  } else if (batchVaries_) {
    terms_ = {"1", "b"};
  } else {
    throw std::invalid_argument("every step was traced at " + stepSizeText(sizes_[0]) + ": nothing to fit");
  }
  const auto p = pseudoInverse(terms_, sizes_);
  if (p.empty()) {
    std::string list;
    for (const auto& term : terms_)
      list += (list.empty() ? "" : ", ") + term;
    throw std::invalid_argument("the traced sizes cannot tell the terms " + list +
                                " apart; trace more distinct sizes");
  }
  template_ = std::move(traced.back().second);
  for (size_t i = 0; i + 1 < traced.size(); ++i) {
    if (const auto why = misalignment(template_, sizes_.back(), traced[i].second, sizes_[i]); !why.empty())
      throw std::invalid_argument(why);
  }
  // Every event's and known storage's bytes at each size, fitted with the same pseudo-inverse.
  const size_t events = template_.memory.size(), values = events + template_.known.size();
  coef_.assign(values, std::vector<double>(terms_.size(), 0));
  std::vector<double> y(traced.size());
  for (size_t v = 0; v < values; ++v) {
    for (size_t i = 0; i < traced.size(); ++i) {
      const Trace& t = i + 1 == traced.size() ? template_ : traced[i].second;
      y[i] = v < events ? std::abs(static_cast<double>(t.memory[v].bytes))
                        : static_cast<double>(t.known[v - events].bytes);
    }
    for (size_t r = 0; r < terms_.size(); ++r) {
      for (size_t i = 0; i < y.size(); ++i)
        coef_[v][r] += p[r][i] * y[i];
    }
    for (size_t i = 0; i < y.size(); ++i) {
      double fitted = 0;
      for (size_t r = 0; r < terms_.size(); ++r)
        fitted += coef_[v][r] * termValue(terms_[r], sizes_[i]);
      worstResidual_ =
          std::max<int64_t>(worstResidual_, std::llabs(std::llround(fitted) - std::llround(y[i])));
    }
  }
}

std::vector<double> SizeFit::predict(const StepSize& size) const {
  const StepSize& traced = sizes_.front();
  if (!batchVaries_ && size.batch != traced.batch) {
    throw std::invalid_argument("every step was traced at batch " + std::to_string(traced.batch) +
                                ": how memory grows with the batch is unknown");
  }
  if (!seqVaries_ && size.seq != traced.seq) {
    throw std::invalid_argument("every step was traced at seq " + std::to_string(traced.seq) +
                                ": how memory grows with the sequence is unknown");
  }
  std::vector<double> x(terms_.size());
  for (size_t r = 0; r < terms_.size(); ++r)
    x[r] = termValue(terms_[r], size);
  std::vector<double> out(coef_.size());
  for (size_t v = 0; v < coef_.size(); ++v) {
    double sum = 0;
    for (size_t r = 0; r < x.size(); ++r)
      sum += coef_[v][r] * x[r];
    out[v] = sum;
  }
  return out;
}

Trace SizeFit::at(const StepSize& size) const {
  const auto values = predict(size);
  Trace t = template_;
  const size_t events = t.memory.size();
  const auto bytesOf = [](double v) { return std::max<int64_t>(1, std::llround(v)); };
  for (size_t i = 0; i < t.known.size(); ++i)
    t.known[i].bytes = bytesOf(values[events + i]);
  // A free gives back what its allocation took: paired by address in the template, as the analysis pairs
  // them (a storage from before the step, by its known entry).
  std::unordered_map<uint64_t, int64_t> live;
  for (const auto& k : t.known) {
    if (k.preexisting) live[k.addr] = k.bytes;
  }
  for (size_t i = 0; i < events; ++i) {
    auto& e = t.memory[i];
    if (e.bytes > 0) {
      e.bytes = bytesOf(values[i]);
      live[e.addr] = e.bytes;
    } else {
      const auto it = live.find(e.addr);
      e.bytes = -(it == live.end() ? bytesOf(values[i]) : it->second);
      if (it != live.end()) live.erase(it);
    }
  }
  return t;
}

}  // namespace lowmem
