#include "core/error.h"

#include <gtest/gtest.h>

namespace lowmem {

TEST(ErrorLines, FirstLineAndModelErrorLine) {
  EXPECT_EQ(firstLine("  shape mismatch  \nException raised from ..."), "shape mismatch");
  EXPECT_EQ(firstLine("\n\n"), "");
  const std::string ts =
      "The following operation failed in the TorchScript interpreter.\nTraceback of TorchScript, serialized "
      "code "
      "(most recent call last):\n  File \"code/__torch__.py\", line 9\n    x = torch.add(a, b)\n"
      "RuntimeError: The size of tensor a (10) must match the size of tensor b (17)\n\n";
  EXPECT_EQ(modelErrorLine(ts),
            "RuntimeError: The size of tensor a (10) must match the size of tensor b (17)");
  EXPECT_EQ(modelErrorLine("plain error\nmore"), "plain error");
  InputError e("model.pt", "empty file");
  EXPECT_STREQ(e.what(), "model.pt: empty file");
  EXPECT_EQ(e.exitCode(), ExitCode::kBadInput);
}

}  // namespace lowmem
