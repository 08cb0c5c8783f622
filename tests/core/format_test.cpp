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

TEST(ParseByteSize, BinaryUnitsDecimalVendorUnitsAndRefusals) {
  EXPECT_EQ(parseByteSize("24GiB"), int64_t{24} << 30);
  EXPECT_EQ(parseByteSize("24 GiB"), int64_t{24} << 30);
  EXPECT_EQ(parseByteSize("1.5G"), int64_t{3} << 29);
  EXPECT_EQ(parseByteSize("80GB"), int64_t{80000000000});
  EXPECT_EQ(parseByteSize("512"), 512);
  EXPECT_EQ(parseByteSize("512B"), 512);
  for (const char* bad : {"", "GiB", "24 gigs", "-1G", "0", "nan", "inf", "1e30", "0.5"})
    EXPECT_EQ(parseByteSize(bad), std::nullopt) << bad;
}

}  // namespace lowmem
