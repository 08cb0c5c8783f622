#include "core/format.h"

#include <gtest/gtest.h>

namespace lowmem {

TEST(FormatBytes, UsesBinaryUnitsWithTwoDecimals) {
  EXPECT_EQ(formatBytes(0), "0 B");
  EXPECT_EQ(formatBytes(1023), "1023 B");
  EXPECT_EQ(formatBytes(1024), "1.00 KiB");
  EXPECT_EQ(formatBytes(1536), "1.50 KiB");
  EXPECT_EQ(formatBytes(3 * 1024 * 1024), "3.00 MiB");
  EXPECT_EQ(formatBytes(-2048), "-2.00 KiB");
  EXPECT_EQ(formatBytes(int64_t{5} << 40), "5.00 TiB");
}

TEST(FormatCount, GroupsThousands) {
  EXPECT_EQ(formatCount(0), "0");
  EXPECT_EQ(formatCount(999), "999");
  EXPECT_EQ(formatCount(1000), "1,000");
  EXPECT_EQ(formatCount(86567656), "86,567,656");
  EXPECT_EQ(formatCount(-1234567), "-1,234,567");
}

TEST(Printable, WritesControlCharactersAsEscapes) {
  EXPECT_EQ(printable("baseline"), "baseline");
  EXPECT_EQ(printable("a\x1b[2Jb\r\n"), "a\\x1b[2Jb\\x0d\\x0a");
  EXPECT_EQ(printable("caf\xc3\xa9 \x7f"), "caf\xc3\xa9 \\x7f");  // UTF-8 stays, DEL does not
}

}  // namespace lowmem
