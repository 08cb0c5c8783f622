#include "service/fashion_mnist.h"

#include <zlib.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/error.h"

namespace lowmem {
namespace {

// gzread reads plain files as they are, so one reader serves both.
class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb"), gzclose) {
    if (!file_) throw InputError(path, "cannot open: " + std::string(std::strerror(errno)));
  }
  void read(void* into, size_t bytes, const char* what) {
    auto* p = static_cast<unsigned char*>(into);
    while (bytes > 0) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes, 1u << 30));
      const int n = gzread(file_.get(), p, chunk);
      if (n <= 0) {
        int code = 0;
        const char* why = gzerror(file_.get(), &code);
        throw InputError(path_,
                         std::string("truncated or not gzip/IDX data while reading ") + what +
                             (code != Z_OK && code != Z_STREAM_END ? std::string(" (") + why + ")" : ""));
      }
      p += n;
      bytes -= static_cast<size_t>(n);
    }
  }

 private:
  std::string path_;
  std::unique_ptr<gzFile_s, int (*)(gzFile)> file_;
};

ImageSet readSet(const std::string& dir, const std::string& prefix) {
  ImageSet s;
  s.images = readIdxBytes(dir + "/" + prefix + "-images-idx3-ubyte.gz", 3);
  s.labels = readIdxBytes(dir + "/" + prefix + "-labels-idx1-ubyte.gz", 1).to(at::kLong);
  if (s.images.size(0) != s.labels.size(0) || s.images.size(1) != 28 || s.images.size(2) != 28)
    throw InputError(dir + "/" + prefix + "-images-idx3-ubyte.gz",
                     "expected 28 x 28 images, one per label in the labels file");
  if (s.labels.max().item<int64_t>() > 9)
    throw InputError(dir + "/" + prefix + "-labels-idx1-ubyte.gz", "holds a label above 9");
  return s;
}

}  // namespace

at::Tensor readIdxBytes(const std::string& path, int dims) {
  if (!std::filesystem::exists(path))
    throw InputError(path, "no such file (Debian's dataset-fashion-mnist installs it: scripts/setup)");
  GzFile f(path);
  unsigned char magic[4];
  f.read(magic, 4, "the IDX magic");
  // Two zero bytes, 0x08 (unsigned bytes), then the number of dimensions.
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] != dims)
    throw InputError(path, "not an IDX file of unsigned bytes with " + std::to_string(dims) + " dimensions");
  std::vector<int64_t> shape;
  int64_t count = 1;
  for (int d = 0; d < dims; ++d) {
    unsigned char b[4];
    f.read(b, 4, "the IDX dimensions");
    const int64_t n = (int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | b[3];
    // Fashion-MNIST's largest file holds 47 MB; anything beyond a few hundred MB is not a data set of this
    // kind.
    if (n <= 0 || count * n > (int64_t{1} << 28)) throw InputError(path, "IDX dimensions out of range");
    shape.push_back(n);
    count *= n;
  }
  auto t = at::empty(shape, at::TensorOptions().dtype(at::kByte));
  f.read(t.data_ptr(), static_cast<size_t>(count), "the IDX data");
  return t;
}

FashionMnist loadFashionMnist(const std::string& dir) {
  return {readSet(dir, "train"), readSet(dir, "t10k")};
}

}  // namespace lowmem
