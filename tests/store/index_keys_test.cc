// Every key of the index (store/index/keys.h): round trip, wrong shapes
// rejected, numeric order (also as LMDB returns it).
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "store/index/keys.h"
#include "tests/store/index_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

TEST(RecordsTest, KeysSortNumerically) {
  EXPECT_LT(SeqKey(9), SeqKey(10));
  EXPECT_LT(SeqKey(255), SeqKey(256));
  EXPECT_LT(StepKey(-1, 5), StepKey(0, 1));
  EXPECT_LT(StepKey(2, 9), StepKey(10, 1));
  EXPECT_LT(StepKey(7, 1), StepKey(7, 2));
}

TEST(RecordsTest, HexRoundTrip) {
  Hash128 h = Hash128::Of("hello");
  auto back = Hash128::FromHex(h.Hex());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, h);
  EXPECT_FALSE(Hash128::FromHex("xyz").has_value());
}



TEST(KeysTest, HashKeyRoundTrip) {
  for (const Hash128& id : {Hash128{}, Hash128::Of("a"), Hash128{~0ull, ~0ull}, Hash128{1, 0}, Hash128{0, 1}}) {
    const std::string k = HashKey(id);
    EXPECT_EQ(k.size(), 16u);
    EXPECT_EQ(k, id.Bytes());
    Hash128 back{7, 7};
    ASSERT_TRUE(DecodeHashKey(k, &back));
    EXPECT_EQ(back, id);
  }
}

TEST(KeysTest, PackKeyRoundTripIsBigEndian) {
  EXPECT_EQ(PackKey(0x01020304), std::string("\x01\x02\x03\x04", 4));
  for (uint32_t pack : {0u, 1u, 255u, 256u, 0x01020304u, std::numeric_limits<uint32_t>::max()}) {
    uint32_t back = 12345;
    ASSERT_TRUE(DecodePackKey(PackKey(pack), &back)) << pack;
    EXPECT_EQ(back, pack);
  }
}

TEST(KeysTest, SeqKeyRoundTripIsBigEndian) {
  EXPECT_EQ(SeqKey(0x0102030405060708ull), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  for (uint64_t seq : {uint64_t{0}, uint64_t{1}, uint64_t{256}, std::numeric_limits<uint64_t>::max()}) {
    uint64_t back = 12345;
    ASSERT_TRUE(DecodeSeqKey(SeqKey(seq), &back)) << seq;
    EXPECT_EQ(back, seq);
  }
}

TEST(KeysTest, SnapshotIdKeyRoundTripAndHexPrefix) {
  for (const Hash128& id : {Hash128{}, Hash128::Of("snap"), Hash128{1, 2}, Hash128{~0ull, 0}, Hash128{0, ~0ull}}) {
    const std::string k = SnapshotIdKey(id);
    ASSERT_EQ(k.size(), 16u);
    // Canonical order: the key's bytes in hex are the id's hex, so a hex
    // prefix is a key prefix.
    EXPECT_EQ(HexBytes(k), id.Hex());
    Hash128 back{7, 7};
    ASSERT_TRUE(DecodeSnapshotIdKey(k, &back));
    EXPECT_EQ(back, id);
  }
}

TEST(KeysTest, StepKeyRoundTrip) {
  const int64_t kMin = std::numeric_limits<int64_t>::min(), kMax = std::numeric_limits<int64_t>::max();
  for (int64_t step : {kMin, kMin + 1, int64_t{-1000}, int64_t{-1}, int64_t{0}, int64_t{1}, int64_t{1000}, kMax}) {
    for (uint64_t seq : {uint64_t{0}, uint64_t{1}, std::numeric_limits<uint64_t>::max()}) {
      const std::string k = StepKey(step, seq);
      ASSERT_EQ(k.size(), 16u);
      EXPECT_EQ(k.substr(0, 8), StepPrefix(step));
      int64_t back_step = 42;
      uint64_t back_seq = 42;
      ASSERT_TRUE(DecodeStepKey(k, &back_step, &back_seq));
      EXPECT_EQ(back_step, step);
      EXPECT_EQ(back_seq, seq);
    }
  }
}

TEST(KeysTest, TagKeyIsTheName) {
  EXPECT_EQ(TagKey("best-1.0_x"), "best-1.0_x");
  EXPECT_EQ(TagKey(""), "");
}

struct BadKey {
  const char* what;
  std::string key;
};

TEST(KeysTest, FixedSizeKeysRejectWrongSizes) {
  const std::string h = HashKey(Hash128::Of("k"));
  const std::vector<BadKey> bad_16 = {
      {"empty", ""}, {"15 bytes", h.substr(0, 15)}, {"17 bytes", h + "x"}, {"8 bytes", h.substr(0, 8)}};
  for (const BadKey& b : bad_16) {
    Hash128 id;
    int64_t step;
    uint64_t seq;
    EXPECT_FALSE(DecodeHashKey(b.key, &id)) << b.what;
    EXPECT_FALSE(DecodeSnapshotIdKey(b.key, &id)) << b.what;
    EXPECT_FALSE(DecodeStepKey(b.key, &step, &seq)) << b.what;
  }
  const std::string p = PackKey(7);
  for (const BadKey& b : std::vector<BadKey>{
           {"empty", ""}, {"3 bytes", p.substr(0, 3)}, {"5 bytes", p + "x"}, {"a seq key", SeqKey(7)}}) {
    uint32_t pack;
    EXPECT_FALSE(DecodePackKey(b.key, &pack)) << b.what;
  }
  const std::string s = SeqKey(7);
  for (const BadKey& b : std::vector<BadKey>{{"empty", ""},
                                             {"7 bytes", s.substr(0, 7)},
                                             {"9 bytes", s + "x"},
                                             {"a pack key", PackKey(7)},
                                             {"a step key", StepKey(7, 7)}}) {
    uint64_t seq;
    EXPECT_FALSE(DecodeSeqKey(b.key, &seq)) << b.what;
  }
}

TEST(KeysTest, StepKeysSortNumericallyWithNegativeSteps) {
  const int64_t kMin = std::numeric_limits<int64_t>::min(), kMax = std::numeric_limits<int64_t>::max();
  const std::vector<int64_t> steps = {kMin, -1000000, -256, -255, -2, -1, 0, 1, 255, 256, 1000000, kMax};
  for (size_t i = 0; i + 1 < steps.size(); ++i) {
    EXPECT_LT(StepKey(steps[i], 99), StepKey(steps[i + 1], 0)) << steps[i] << " vs " << steps[i + 1];
    EXPECT_LT(StepPrefix(steps[i]), StepPrefix(steps[i + 1])) << steps[i] << " vs " << steps[i + 1];
  }
  // Within one step, by sequence.
  EXPECT_LT(StepKey(-3, 255), StepKey(-3, 256));

  // And LMDB, which compares bytes, returns them in that order.
  TestIndex index;
  ASSERT_NE(index.env, nullptr);
  const std::vector<int64_t> shuffled = {256, -1, kMax, 0, -256, kMin, 1, -1000000, 255, -2, 1000000, -255};
  Status s = index.env->Write([&](Txn& txn) {
    for (size_t i = 0; i < shuffled.size(); ++i)
      CIUIC_RETURN_IF_ERROR(txn.Put(Db::kSteps, StepKey(shuffled[i], i), ""));
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::vector<int64_t> seen;
  InRead(index.env.get(), [&](Txn& txn) {
    Status scan = txn.Scan(Db::kSteps, "", [&](std::string_view k, std::string_view) {
      int64_t step;
      uint64_t seq;
      EXPECT_TRUE(DecodeStepKey(k, &step, &seq));
      seen.push_back(step);
      return true;
    });
    EXPECT_TRUE(scan.ok()) << scan.ToString();
  });
  EXPECT_EQ(seen, steps);
}

TEST(KeysTest, SnapshotIdKeysSortByHex) {
  std::vector<Hash128> ids;
  for (int i = 0; i < 32; ++i) ids.push_back(Hash128::Of("id" + std::to_string(i)));
  ids.push_back(Hash128{~0ull, 0});  // hi 0: sorts first by hex
  ids.push_back(Hash128{0, 1});
  for (size_t i = 0; i < ids.size(); ++i)
    for (size_t j = 0; j < ids.size(); ++j)
      EXPECT_EQ(SnapshotIdKey(ids[i]) < SnapshotIdKey(ids[j]), ids[i].Hex() < ids[j].Hex()) << i << " " << j;
}

}  // namespace
}  // namespace ciuicfs
