// Which tensor a storage held: the first an op returned in it while the storage was alive, so a reused
// address takes the tensor of its own lifetime, not the previous storage's.

#include "core/storage_tensors.h"

#include <gtest/gtest.h>

namespace lowmem {
namespace {

TEST(StorageTensors, EachLifetimeTakesTheFirstTensorReturnedInIt) {
  Trace t;
  StringInterner in(t.strings);
  const auto fn = OpScope::kFunction;
  t.phases = {{Phase::kForward, 0, 0}, {Phase::kAfter, 30, 300}};
  t.ops = {
      // name, scope, phase, seqNr, module, parent, beginSeq, endSeq, beginNs, endNs
      {in.intern("aten::gelu"), fn, Phase::kForward, -1, 0, -1, 1, 3, 10, 30},
      {in.intern("aten::view"), fn, Phase::kForward, -1, 0, -1, 4, 5, 40, 50},
      {in.intern("aten::mul"), fn, Phase::kForward, -1, 0, -1, 10, 12, 100, 120},
  };
  // 0x100 holds gelu's [2,8] output and is viewed as [16]; freed at 7, the address comes back for mul's
  // [4,4] output. 0x200 is scratch no op returned.
  t.memory = {{2, 20, 0x100, 64, 0, -1},
              {6, 60, 0x200, 32, -1, -1},
              {7, 70, 0x100, -64, -1, -1},
              {11, 110, 0x100, 64, 2, -1}};
  t.outputs = {{0, 0x100, in.intern("[2,8]"), in.intern("float32")},
               {1, 0x100, in.intern("[16]"), in.intern("float32")},
               {2, 0x100, in.intern("[4,4]"), in.intern("bfloat16")}};
  const auto p = analyseTrace(t);
  ASSERT_EQ(p.storages.size(), 3u);
  const auto tensors = storageTensors(t, p);
  for (size_t s = 0; s < p.storages.size(); ++s) {
    const auto& st = p.storages[s];
    if (st.addr == 0x200) {
      EXPECT_EQ(tensors[s], -1);
      EXPECT_EQ(tensorText(t, tensors[s]), "");
    } else if (st.allocSeq == 2) {
      EXPECT_EQ(tensorText(t, tensors[s]), "[2,8] float32");
    } else {
      EXPECT_EQ(tensorText(t, tensors[s]), "[4,4] bfloat16");
    }
  }
  t.outputs.clear();
  for (int32_t i : storageTensors(t, p))
    EXPECT_EQ(i, -1);
}

}  // namespace
}  // namespace lowmem
