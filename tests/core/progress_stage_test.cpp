// Counted progress stages: "NAME N of M" gives a percentage; anything else is a stage without a count.

#include "core/progress_stage.h"

#include <gtest/gtest.h>

namespace lowmem {
namespace {

TEST(ProgressStage, ACountedStageGivesItsNameAndPercentage) {
  const auto s = parseProgressStage("training step 57 of 200");
  EXPECT_EQ(s.name, "training step");
  EXPECT_EQ(s.done, 57);
  EXPECT_EQ(s.total, 200);
  EXPECT_EQ(s.percent(), 28);
  EXPECT_EQ(parseProgressStage("timing round 5 of 5").percent(), 100);
}

TEST(ProgressStage, OtherTextIsAStageWithoutACount) {
  for (const char* text : {"loading model", "1 of 2", "step 3 of 0", "step 4 of 3", "step of 3",
                           "x 12 of 9999999999", "", "warm-up and traced step"}) {
    const auto s = parseProgressStage(text);
    EXPECT_EQ(s.name, text);
    EXPECT_EQ(s.total, 0) << text;
    EXPECT_EQ(s.percent(), -1) << text;
  }
}

}  // namespace
}  // namespace lowmem
