// The studio's icicle and band views' layouts, checked against sums computed here from the same profile.

#include <gtest/gtest.h>

#include "core/icicle_layout.h"
#include "core/module_path.h"
#include "core/storage_bands.h"
#include "tests/core/hand_traces.h"

namespace lowmem {
namespace {

TEST(IcicleLayout, ChildrenSitSideBySideUnderTheirParentLargestFirst) {
  // root 100 (10 its own), a 60 (20 its own), a.x 40, b 30: b is narrower than a, so a comes first.
  const std::map<std::string, ModuleActivation> modules = {
      {"", {10, 100}}, {"a", {20, 60}}, {"a.x", {40, 40}}, {"b", {30, 30}}};
  const auto boxes = icicleLayout(modules);
  ASSERT_EQ(boxes.size(), 4u);
  const auto find = [&](const std::string& path) {
    for (const auto& b : boxes) {
      if (b.path == path) return b;
    }
    ADD_FAILURE() << path;
    return IcicleBox{};
  };
  EXPECT_EQ(boxes.front().path, "");
  EXPECT_DOUBLE_EQ(find("").x1, 1.0);
  EXPECT_DOUBLE_EQ(find("a").x0, 0.0);
  EXPECT_DOUBLE_EQ(find("a").x1, 0.6);
  EXPECT_DOUBLE_EQ(find("a.x").x1, 0.4);
  EXPECT_EQ(find("a.x").depth, 2);
  EXPECT_DOUBLE_EQ(find("b").x0, 0.6);
  EXPECT_DOUBLE_EQ(find("b").x1, 0.9);  // the root's own 10% is the uncovered rest
  EXPECT_EQ(boxes[static_cast<size_t>(icicleBoxAt(boxes, 0.65, 1))].path, "b");
  EXPECT_EQ(boxes[static_cast<size_t>(icicleBoxAt(boxes, 0.2, 2))].path, "a.x");
  EXPECT_EQ(icicleBoxAt(boxes, 0.95, 1), -1);
  EXPECT_TRUE(icicleLayout({}).empty());
}

TEST(IcicleLayout, EveryBoxLiesInsideItsParentOnAnAnalysedTrace) {
  const auto p = analyseTrace(testing::normSiteTrace());
  const auto boxes = icicleLayout(p.moduleActivations);
  ASSERT_FALSE(boxes.empty());
  for (const auto& b : boxes) {
    EXPECT_NEAR(b.x1 - b.x0,
                static_cast<double>(b.inclusive) / static_cast<double>(p.moduleActivations.at("").inclusive),
                1e-12);
    if (b.path.empty()) continue;
    for (const auto& parent : boxes) {
      if (parent.path != splitLastComponent(b.path).first) continue;
      EXPECT_EQ(parent.depth + 1, b.depth);
      EXPECT_GE(b.x0, parent.x0);
      EXPECT_LE(b.x1, parent.x1 + 1e-12);
    }
  }
}

// Every point's stack, recomputed here: the others' level plus the bands alive there is the total, and each
// band sits on exactly the bands allocated before it.
void expectStacksAddUp(const Profile& p, const StorageBands& bands) {
  const auto& tl = p.timeline;
  for (size_t i = 0; i < tl.size(); ++i) {
    int64_t level = 0;
    for (const auto& s : bands.others) {
      if (s.point <= i) level = s.bottom;
    }
    for (const auto& band : bands.bands) {
      if (i < band.firstPoint || i >= band.endPoint) continue;
      EXPECT_EQ(bandBottomAt(band, i), level) << "point " << i << " storage " << band.storage;
      EXPECT_TRUE(p.storages[band.storage].aliveAt(tl[i].seq));
      level += p.storages[band.storage].bytes;
    }
    EXPECT_EQ(level, tl[i].total) << "point " << i;
  }
}

TEST(StorageBands, BandsStackInAllocationOrderAndTheirTopIsTheTotal) {
  const auto p = analyseTrace(testing::normSiteTrace());
  const auto all = storageBands(p, 100, 100000);
  EXPECT_EQ(all.pointCount, p.timeline.size());
  // Every storage allocated in the step is a band; the input predates it and is among the others.
  size_t inStep = 0;
  for (const auto& s : p.storages)
    inStep += s.allocSeq >= 0;
  EXPECT_EQ(all.bands.size(), inStep);
  for (size_t i = 1; i < all.bands.size(); ++i)
    EXPECT_LT(p.storages[all.bands[i - 1].storage].allocSeq, p.storages[all.bands[i].storage].allocSeq);
  expectStacksAddUp(p, all);
  // Only the largest (the 1,000-byte temporary) when one band is asked for; at the peak it tops the stack.
  const auto one = storageBands(p, 1, 100000);
  ASSERT_EQ(one.bands.size(), 1u);
  EXPECT_EQ(p.storages[one.bands[0].storage].bytes, 1000);
  expectStacksAddUp(p, one);
  const auto peak = p.peakPoint;
  EXPECT_EQ(bandBottomAt(one.bands[0], peak) + 1000, p.peak().total);
  EXPECT_EQ(storageBandAt(one, p, static_cast<double>(peak), static_cast<double>(p.peak().total) - 1), 0);
  EXPECT_EQ(storageBandAt(one, p, static_cast<double>(peak), 0), -1);
}

}  // namespace
}  // namespace lowmem
