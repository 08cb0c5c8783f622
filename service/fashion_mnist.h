#pragma once
// Fashion-MNIST as Debian's dataset-fashion-mnist installs it (scripts/setup does): 60,000 training and
// 10,000 test images of 28 x 28 grey pixels in 10 classes, in gzipped IDX files. `validate --data
// fashion-mnist` trains on the first and measures on the second.

#include <ATen/ATen.h>

#include <string>

namespace lowmem {

inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

struct ImageSet {
  at::Tensor images;  // uint8 [N, 28, 28]
  at::Tensor labels;  // int64 [N], 0..9
};

struct FashionMnist {
  ImageSet train;
  ImageSet test;
};

// InputError naming the file that is missing (with the package to install), truncated or not IDX.
FashionMnist loadFashionMnist(const std::string& dir = kFashionMnistDir);

// An IDX file of unsigned bytes (gzipped or not) with `dims` dimensions: its contents and shape.
at::Tensor readIdxBytes(const std::string& path, int dims);

}  // namespace lowmem
