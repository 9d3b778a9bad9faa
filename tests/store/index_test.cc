#include "store/index/rows.h"

#include "store/index/keys.h"

#include <gtest/gtest.h>

namespace ciuicfs {
namespace {

TEST(RecordsTest, ManifestRoundTripAndChunkLookup) {
  Manifest m;
  m.id = Hash128::Of("x");
  m.chunks = {{Hash128::Of("a"), 10}, {Hash128::Of("b"), 25}, {Hash128::Of("c"), 26}};
  m.size = 26;
  Manifest back;
  uint32_t rc = 0;
  ASSERT_TRUE(DecodeManifest(EncodeManifest(m, 7), &back, &rc));
  EXPECT_EQ(rc, 7u);
  EXPECT_EQ(back.size, 26u);
  ASSERT_EQ(back.chunks.size(), 3u);
  EXPECT_EQ(back.chunks[1].id, Hash128::Of("b"));
  EXPECT_EQ(m.ChunkAt(0), 0u);
  EXPECT_EQ(m.ChunkAt(9), 0u);
  EXPECT_EQ(m.ChunkAt(10), 1u);
  EXPECT_EQ(m.ChunkAt(24), 1u);
  EXPECT_EQ(m.ChunkAt(25), 2u);
  EXPECT_EQ(m.ChunkStart(2), 25u);
  // A manifest whose offsets do not add up to its size is rejected.
  std::string bad = EncodeManifest(m, 1);
  bad[4] = 27;
  EXPECT_FALSE(DecodeManifest(bad, &back, &rc));
  EXPECT_FALSE(DecodeManifest(bad.substr(0, bad.size() - 1), &back, &rc));
}

TEST(RecordsTest, TreeAndSnapshotRoundTrip) {
  Tree t = {{"a", EntryKind::kDirectory, 0755, 0, 5, {}},
            {"a/model.pt", EntryKind::kFile, 0644, 123, 6, Hash128::Of("m")}};
  Tree back;
  ASSERT_TRUE(DecodeTree(EncodeTree(t), &back));
  EXPECT_EQ(back, t);
  Snapshot s;
  s.seq = 3;
  s.parent = Hash128::Of("p");
  s.tree = Hash128::Of("t");
  s.step = -5;
  s.time_ns = 99;
  s.bytes_added = 1234;
  s.changes = {{ChangeKind::kPut, "a/model.pt", Hash128::Of("m"), 123}, {ChangeKind::kRemove, "b", {}, 0}};
  s.id = ComputeSnapshotId(s);
  Snapshot sb;
  ASSERT_TRUE(DecodeSnapshot(EncodeSnapshot(s), &sb));
  EXPECT_EQ(sb.id, s.id);
  EXPECT_EQ(sb.step, -5);
  EXPECT_EQ(sb.changes, s.changes);
  EXPECT_EQ(ComputeSnapshotId(sb), s.id);
}

TEST(RecordsTest, SnapshotIdCoversEveryField) {
  Snapshot s;
  s.seq = 1;
  s.tree = Hash128::Of("t");
  s.changes = {{ChangeKind::kPut, "f", Hash128::Of("v"), 1}};
  const Hash128 id = ComputeSnapshotId(s);
  auto differs = [&](auto mutate) {
    Snapshot c = s;
    mutate(c);
    return ComputeSnapshotId(c) != id;
  };
  EXPECT_TRUE(differs([](Snapshot& c) { c.seq = 2; }));
  EXPECT_TRUE(differs([](Snapshot& c) { c.parent = Hash128::Of("q"); }));
  EXPECT_TRUE(differs([](Snapshot& c) { c.tree = Hash128::Of("u"); }));
  EXPECT_TRUE(differs([](Snapshot& c) { c.step = 1; }));
  EXPECT_TRUE(differs([](Snapshot& c) { c.time_ns = 1; }));
  EXPECT_TRUE(differs([](Snapshot& c) { c.changes[0].path = "g"; }));
}

TEST(RecordsTest, KeysSortNumerically) {
  EXPECT_LT(SeqKey(9), SeqKey(10));
  EXPECT_LT(SeqKey(255), SeqKey(256));
  EXPECT_LT(StepKey(-1, 5), StepKey(0, 1));
  EXPECT_LT(StepKey(2, 9), StepKey(10, 1));
  EXPECT_LT(StepKey(7, 1), StepKey(7, 2));
  EXPECT_LT(PathKey("a", 99), PathKey("a/b", 1));  // the 0 separator sorts first
}

TEST(RecordsTest, HexRoundTrip) {
  Hash128 h = Hash128::Of("hello");
  auto back = Hash128::FromHex(h.Hex());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, h);
  EXPECT_FALSE(Hash128::FromHex("xyz").has_value());
}

}  // namespace
}  // namespace ciuicfs
