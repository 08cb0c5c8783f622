// MS-LN and MS-RMSNorm on CPU (paper.md §2): per row, statistics in fp32 (fp64 for fp64 input), no affine.
// Forward reads the row twice (mean, then variance) and writes y once; backward reduces mean(g) and
// mean(g*y) in one pass and writes dx in a second. A row of a transformer (≤ 16K elements) stays in cache.

#include <ATen/Parallel.h>

#include <cmath>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/float_io.h"

namespace lowmem::kernels::cpu {
namespace CPU_CAPABILITY {
namespace {

int64_t rowGrain(int64_t cols) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(cols, 1));
}

template <typename T>
void forwardRowsFloat(const T* x, T* y, float* rstd, int64_t rows, int64_t cols, float eps, bool rms) {
  const int64_t full = cols / kLanes * kLanes;
  const int64_t rest = cols - full;
  at::parallel_for(0, rows, rowGrain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * cols;
      T* yr = y + r * cols;
      float mean = 0.f;
      if (!rms) {
        Vec acc(0.f);
        for (int64_t c = 0; c < full; c += kLanes)
          acc = acc + FloatIo<T>::load(xr + c);
        if (rest) acc = acc + FloatIo<T>::load(xr + full, rest);
        mean = reduceSum(acc) / static_cast<float>(cols);
      }
      const Vec m(mean);
      Vec sq(0.f);
      for (int64_t c = 0; c < full; c += kLanes) {
        const Vec d = FloatIo<T>::load(xr + c) - m;
        sq = sq + d * d;
      }
      if (rest) {
        // Lanes past the row load as 0; subtracting the mean would count them, so mask them out.
        const Vec d = FloatIo<T>::load(xr + full, rest) - m;
        float tmp[kLanes];
        (d * d).store(tmp);
        for (int64_t j = rest; j < kLanes; ++j)
          tmp[j] = 0.f;
        sq = sq + Vec::loadu(tmp);
      }
      const float r_ = 1.f / std::sqrt(reduceSum(sq) / static_cast<float>(cols) + eps);
      rstd[r] = r_;
      const Vec rv(r_);
      for (int64_t c = 0; c < full; c += kLanes)
        FloatIo<T>::store(yr + c, (FloatIo<T>::load(xr + c) - m) * rv);
      if (rest) FloatIo<T>::store(yr + full, (FloatIo<T>::load(xr + full, rest) - m) * rv, rest);
    }
  });
}

template <typename T>
void backwardRowsFloat(const T* g, const T* y, const float* rstd, T* dx, int64_t rows, int64_t cols,
                       bool rms) {
  const int64_t full = cols / kLanes * kLanes;
  const int64_t rest = cols - full;
  at::parallel_for(0, rows, rowGrain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* gr = g + r * cols;
      const T* yr = y + r * cols;
      T* dr = dx + r * cols;
      Vec sg(0.f), sgy(0.f);
      for (int64_t c = 0; c < full; c += kLanes) {
        const Vec gv = FloatIo<T>::load(gr + c);
        sg = sg + gv;
        sgy = sgy + gv * FloatIo<T>::load(yr + c);
      }
      if (rest) {
        const Vec gv = FloatIo<T>::load(gr + full, rest);
        sg = sg + gv;
        sgy = sgy + gv * FloatIo<T>::load(yr + full, rest);
      }
      const float inv = 1.f / static_cast<float>(cols);
      const Vec meanG(rms ? 0.f : reduceSum(sg) * inv);
      const Vec meanGy(reduceSum(sgy) * inv);
      const Vec rv(rstd[r]);
      for (int64_t c = 0; c < full; c += kLanes) {
        const Vec v = rv * (FloatIo<T>::load(gr + c) - meanG - FloatIo<T>::load(yr + c) * meanGy);
        FloatIo<T>::store(dr + c, v);
      }
      if (rest) {
        const Vec v =
            rv * (FloatIo<T>::load(gr + full, rest) - meanG - FloatIo<T>::load(yr + full, rest) * meanGy);
        FloatIo<T>::store(dr + full, v, rest);
      }
    }
  });
}

// fp64 in, fp64 statistics: the reference-precision path.
void forwardRowsDouble(const double* x, double* y, double* rstd, int64_t rows, int64_t cols, double eps,
                       bool rms) {
  at::parallel_for(0, rows, rowGrain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const double* xr = x + r * cols;
      double mean = 0;
      if (!rms) {
        for (int64_t c = 0; c < cols; ++c)
          mean += xr[c];
        mean /= static_cast<double>(cols);
      }
      double sq = 0;
      for (int64_t c = 0; c < cols; ++c)
        sq += (xr[c] - mean) * (xr[c] - mean);
      rstd[r] = 1.0 / std::sqrt(sq / static_cast<double>(cols) + eps);
      for (int64_t c = 0; c < cols; ++c)
        y[r * cols + c] = (xr[c] - mean) * rstd[r];
    }
  });
}

void backwardRowsDouble(const double* g, const double* y, const double* rstd, double* dx, int64_t rows,
                        int64_t cols, bool rms) {
  at::parallel_for(0, rows, rowGrain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      double sg = 0, sgy = 0;
      for (int64_t c = 0; c < cols; ++c) {
        sg += g[r * cols + c];
        sgy += g[r * cols + c] * y[r * cols + c];
      }
      const double meanG = rms ? 0.0 : sg / static_cast<double>(cols);
      const double meanGy = sgy / static_cast<double>(cols);
      for (int64_t c = 0; c < cols; ++c) {
        dx[r * cols + c] = rstd[r] * (g[r * cols + c] - meanG - y[r * cols + c] * meanGy);
      }
    }
  });
}

}  // namespace

void normForward(const at::Tensor& x, int64_t cols, double eps, bool rms, const at::Tensor& y,
                 const at::Tensor& rstd) {
  const int64_t rows = cols == 0 ? 0 : x.numel() / cols;
  const float epsF = static_cast<float>(eps);
  switch (x.scalar_type()) {
    case at::kFloat:
      return forwardRowsFloat(x.data_ptr<float>(), y.data_ptr<float>(), rstd.data_ptr<float>(), rows, cols,
                              epsF, rms);
    case at::kBFloat16:
      return forwardRowsFloat(x.data_ptr<c10::BFloat16>(), y.data_ptr<c10::BFloat16>(),
                              rstd.data_ptr<float>(), rows, cols, epsF, rms);
    case at::kHalf:
      return forwardRowsFloat(x.data_ptr<c10::Half>(), y.data_ptr<c10::Half>(), rstd.data_ptr<float>(), rows,
                              cols, epsF, rms);
    case at::kDouble:
      return forwardRowsDouble(x.data_ptr<double>(), y.data_ptr<double>(), rstd.data_ptr<double>(), rows,
                               cols, eps, rms);
    default:
      TORCH_CHECK(false, "lowmem: unsupported dtype ", x.scalar_type());
  }
}

void normBackward(const at::Tensor& grad, const at::Tensor& y, const at::Tensor& rstd, int64_t cols, bool rms,
                  const at::Tensor& dx) {
  const int64_t rows = cols == 0 ? 0 : grad.numel() / cols;
  switch (grad.scalar_type()) {
    case at::kFloat:
      return backwardRowsFloat(grad.data_ptr<float>(), y.data_ptr<float>(), rstd.data_ptr<float>(),
                               dx.data_ptr<float>(), rows, cols, rms);
    case at::kBFloat16:
      return backwardRowsFloat(grad.data_ptr<c10::BFloat16>(), y.data_ptr<c10::BFloat16>(),
                               rstd.data_ptr<float>(), dx.data_ptr<c10::BFloat16>(), rows, cols, rms);
    case at::kHalf:
      return backwardRowsFloat(grad.data_ptr<c10::Half>(), y.data_ptr<c10::Half>(), rstd.data_ptr<float>(),
                               dx.data_ptr<c10::Half>(), rows, cols, rms);
    case at::kDouble:
      return backwardRowsDouble(grad.data_ptr<double>(), y.data_ptr<double>(), rstd.data_ptr<double>(),
                                dx.data_ptr<double>(), rows, cols, rms);
    default:
      TORCH_CHECK(false, "lowmem: unsupported dtype ", grad.scalar_type());
  }
}

}  // namespace CPU_CAPABILITY
}  // namespace lowmem::kernels::cpu
