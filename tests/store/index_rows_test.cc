// Every value encoding of the index (store/index/rows.h): round trip;
// truncated, over-long and bad-kind bytes rejected.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "store/index/rows.h"
#include "tests/store/index_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

// Every strict prefix of `encoded` (a truncated row) must not decode.
void ExpectEveryPrefixRejected(const std::string& encoded, const std::function<bool(std::string_view)>& decode) {
  for (size_t n = 0; n < encoded.size(); ++n)
    EXPECT_FALSE(decode(std::string_view(encoded).substr(0, n)))
        << "a prefix of " << n << " of " << encoded.size() << " bytes decoded";
}


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



TEST(RowsTest, ChunkRowRoundTrip) {
  const std::vector<ChunkRow> rows = {
      {},
      {{1, kPackHeaderSize, 100, 100, Encoding::kRaw}, 1, 0, {}},
      {{kLostPack, 123456789012ull, 7, 9, Encoding::kZstd}, 3, 0, {}},
      {{~0u, ~0ull, ~0u, ~0u, Encoding::kXorDeltaZstd}, ~0u, 0, {}},
  };
  for (const ChunkRow& row : rows) {
    const std::string v = EncodeChunkRow(row);
    EXPECT_EQ(v.size(), 25u);
    ChunkRow back;
    back.refcount = 777;
    ASSERT_TRUE(DecodeChunkRow(v, &back));
    EXPECT_EQ(back.location.pack, row.location.pack);
    EXPECT_EQ(back.location.offset, row.location.offset);
    EXPECT_EQ(back.location.stored_len, row.location.stored_len);
    EXPECT_EQ(back.location.raw_len, row.location.raw_len);
    EXPECT_EQ(back.location.encoding, row.location.encoding);
    EXPECT_EQ(back.refcount, row.refcount);
  }
}

TEST(RowsTest, ChunkRowOfReencodingRoundTrips) {
  ChunkRow row{{7, 4096, 1000, 262144, Encoding::kXorDeltaZstd}, 2, 3,
               {{Hash128::Of("a"), -40000}, {Hash128::Of("b"), 123456}}};
  const std::string v = EncodeChunkRow(row);
  EXPECT_EQ(v.size(), 25u + 4 + 1 + 2 * 24);
  ChunkRow back;
  ASSERT_TRUE(DecodeChunkRow(v, &back));
  EXPECT_EQ(back.dependents, 3u);
  EXPECT_EQ(back.bases, row.bases);
  ExpectEveryPrefixRejected(v, [](std::string_view b) {  // but the 25-byte one
    ChunkRow r;
    return b.size() != 25 && DecodeChunkRow(b, &r);
  });
  // A 25-byte row decodes with no bases and no dependents.
  ChunkRow old;
  old.dependents = 9;
  ASSERT_TRUE(DecodeChunkRow(v.substr(0, 25), &old));
  EXPECT_EQ(old.dependents, 0u);
  EXPECT_TRUE(old.bases.empty());
}

TEST(RowsTest, ChunkRowRejectsWrongSize) {
  const std::string v = EncodeChunkRow({{3, 100, 50, 60, Encoding::kRaw}, 2, 0, {}});
  ExpectEveryPrefixRejected(v, [](std::string_view b) {
    ChunkRow row;
    return DecodeChunkRow(b, &row);
  });
  ChunkRow row;
  EXPECT_FALSE(DecodeChunkRow(v + "x", &row));
  EXPECT_FALSE(DecodeChunkRow(v + v, &row));
}

TEST(RowsTest, PackRowRoundTrip) {
  for (const PackRow& row : {PackRow{}, PackRow{1, 2, 3, 4}, PackRow{~0ull, ~0ull - 1, 1ull << 40, 12345}}) {
    const std::string v = EncodePackRow(row);
    EXPECT_EQ(v.size(), 32u);
    PackRow back{9, 9, 9, 9};
    ASSERT_TRUE(DecodePackRow(v, &back));
    EXPECT_EQ(back.indexed_end, row.indexed_end);
    EXPECT_EQ(back.synced_end, row.synced_end);
    EXPECT_EQ(back.live_bytes, row.live_bytes);
    EXPECT_EQ(back.live_records, row.live_records);
  }
}

TEST(RowsTest, PackRowRejectsWrongSize) {
  const std::string v = EncodePackRow({100, 90, 80, 2});
  ExpectEveryPrefixRejected(v, [](std::string_view b) {
    PackRow row;
    return DecodePackRow(b, &row);
  });
  PackRow row;
  EXPECT_FALSE(DecodePackRow(v + "x", &row));
}

TEST(RowsTest, ManifestRoundTripIncludingEmptyVersion) {
  Manifest empty;
  empty.id = Hash128::Of("empty");
  Manifest back;
  uint32_t rc = 0;
  ASSERT_TRUE(DecodeManifest(EncodeManifest(empty, 0), &back, &rc));
  EXPECT_EQ(back.size, 0u);
  EXPECT_TRUE(back.chunks.empty());
  EXPECT_EQ(rc, 0u);

  Manifest m;
  m.chunks = {{Hash128::Of("a"), 1}, {Hash128::Of("a"), 2}, {Hash128{~0ull, ~0ull}, 1ull << 40}};
  m.size = 1ull << 40;
  const std::string v = EncodeManifest(m, 0xdeadbeef);
  EXPECT_EQ(v.size(), 16u + 3 * 24);
  ASSERT_TRUE(DecodeManifest(v, &back, &rc));
  EXPECT_EQ(rc, 0xdeadbeefu);
  EXPECT_EQ(back.size, m.size);
  ASSERT_EQ(back.chunks.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back.chunks[i].id, m.chunks[i].id);
    EXPECT_EQ(back.chunks[i].end, m.chunks[i].end);
  }
  // The refcount is optional.
  ASSERT_TRUE(DecodeManifest(v, &back, nullptr));
}

TEST(RowsTest, ManifestRejectsMalformed) {
  Manifest m;
  m.chunks = {{Hash128::Of("a"), 10}, {Hash128::Of("b"), 20}};
  m.size = 20;
  const std::string v = EncodeManifest(m, 1);
  ExpectEveryPrefixRejected(v, [](std::string_view b) {
    Manifest back;
    uint32_t rc;
    return DecodeManifest(b, &back, &rc);
  });
  struct Case {
    const char* what;
    std::string bytes;
  };
  std::string count_too_big = v;
  count_too_big[12] = 3;  // chunk count u32 at offset 12
  std::string count_too_small = v;
  count_too_small[12] = 1;
  std::string not_increasing = v;
  not_increasing[16 + 24 + 16] = 10;  // second chunk's end = first chunk's end
  std::string decreasing = v;
  decreasing[16 + 16] = 30;  // first end 30 > second end 20
  std::string size_short = v;
  size_short[4] = 19;
  std::string zero_end = v;
  zero_end[16 + 16] = 0;  // a chunk of zero bytes
  const std::vector<Case> cases = {
      {"one byte too many", v + "x"},          {"count too big", count_too_big}, {"count too small", count_too_small},
      {"ends not increasing", not_increasing}, {"ends decreasing", decreasing},  {"size short of last end", size_short},
      {"first chunk empty", zero_end},
  };
  for (const Case& c : cases) {
    Manifest back;
    uint32_t rc;
    EXPECT_FALSE(DecodeManifest(c.bytes, &back, &rc)) << c.what;
  }
}

TEST(RowsTest, TreeRoundTrip) {
  const Tree t = {
      {"a", EntryKind::kDirectory, 0700, 0, -5, {}},
      {"a/b", EntryKind::kSymlink, 0777, 3, 0, Hash128::Of("target")},
      {"a/model.pt", EntryKind::kFile, 0644, 1ull << 40, std::numeric_limits<int64_t>::min(), Hash128::Of("m")},
      {std::string(1000, 'z'), EntryKind::kFile, 0600, 0, std::numeric_limits<int64_t>::max(), Hash128{}},
  };
  for (const Tree& tree : {Tree{}, t}) {
    Tree back = {{"junk", EntryKind::kFile, 0, 0, 0, {}}};
    ASSERT_TRUE(DecodeTree(EncodeTree(tree), &back));
    EXPECT_EQ(back, tree);
  }
}

// Offset of the kind byte of entry 0 in an encoded tree.
size_t FirstKindOffset(const Tree& t) { return 4 + 2 + t[0].path.size(); }

TEST(RowsTest, TreeRejectsTruncatedAndOverlong) {
  const Tree t = {{"a", EntryKind::kDirectory, 0755, 0, 5, {}},
                  {"a/f", EntryKind::kFile, 0644, 9, 6, Hash128::Of("f")}};
  const std::string v = EncodeTree(t);
  ExpectEveryPrefixRejected(v, [](std::string_view b) {
    Tree back;
    return DecodeTree(b, &back);
  });
  Tree back;
  EXPECT_FALSE(DecodeTree(v + "x", &back));
  std::string more = v;
  more[0] = 3;  // claims a third entry
  EXPECT_FALSE(DecodeTree(more, &back));
  std::string huge = v;
  huge[3] = '\x7f';  // a count far past the bytes there are
  EXPECT_FALSE(DecodeTree(huge, &back));
  std::string long_path = v;
  long_path[4] = 50;  // first path length past the end
  EXPECT_FALSE(DecodeTree(long_path, &back));
}

TEST(RowsTest, TreeRejectsBadEntryKind) {
  const Tree t = {{"f", EntryKind::kFile, 0644, 9, 6, Hash128::Of("f")}};
  const std::string v = EncodeTree(t);
  ASSERT_EQ(static_cast<uint8_t>(v[FirstKindOffset(t)]), 1);
  for (uint8_t kind : {0, 4, 255}) {
    std::string bad = v;
    bad[FirstKindOffset(t)] = static_cast<char>(kind);
    Tree back;
    EXPECT_FALSE(DecodeTree(bad, &back)) << "entry kind " << int(kind) << " decoded (FORMAT.md: 1, 2 or 3)";
  }
}

Snapshot SampleSnapshot() {
  Snapshot s;
  s.seq = 42;
  s.parent = Hash128::Of("parent");
  s.tree = Hash128::Of("tree");
  s.step = std::numeric_limits<int64_t>::min();
  s.time_ns = -7;
  s.bytes_added = 1ull << 50;
  s.changes = {{ChangeKind::kPut, "a/model.pt", Hash128::Of("m"), 123},
               {ChangeKind::kRemove, "b", {}, 0},
               {ChangeKind::kLink, "c/d", Hash128::Of("d"), 1ull << 40}};
  s.id = ComputeSnapshotId(s);
  return s;
}

TEST(RowsTest, SnapshotRoundTrip) {
  Snapshot empty;
  for (const Snapshot& s : {empty, SampleSnapshot()}) {
    Snapshot back;
    back.changes = {{ChangeKind::kRemove, "junk", {}, 0}};
    ASSERT_TRUE(DecodeSnapshot(EncodeSnapshot(s), &back));
    EXPECT_EQ(back.seq, s.seq);
    EXPECT_EQ(back.id, s.id);
    EXPECT_EQ(back.parent, s.parent);
    EXPECT_EQ(back.tree, s.tree);
    EXPECT_EQ(back.step, s.step);
    EXPECT_EQ(back.time_ns, s.time_ns);
    EXPECT_EQ(back.bytes_added, s.bytes_added);
    EXPECT_EQ(back.changes, s.changes);
  }
}

TEST(RowsTest, SnapshotRejectsTruncatedAndOverlong) {
  const std::string v = EncodeSnapshot(SampleSnapshot());
  ExpectEveryPrefixRejected(v, [](std::string_view b) {
    Snapshot back;
    return DecodeSnapshot(b, &back);
  });
  Snapshot back;
  EXPECT_FALSE(DecodeSnapshot(v + "x", &back));
}

TEST(RowsTest, SnapshotRejectsBadChangeKind) {
  Snapshot s;
  s.changes = {{ChangeKind::kPut, "f", Hash128::Of("v"), 1}};
  const std::string v = EncodeSnapshot(s);
  const size_t kind_at = 8 + 16 * 3 + 8 * 3 + 4;  // after seq, ids, step, time, bytes added, count
  ASSERT_EQ(static_cast<uint8_t>(v[kind_at]), 1);
  for (uint8_t kind : {0, 4, 255}) {
    std::string bad = v;
    bad[kind_at] = static_cast<char>(kind);
    Snapshot back;
    EXPECT_FALSE(DecodeSnapshot(bad, &back)) << "change kind " << int(kind) << " decoded (FORMAT.md: 1, 2 or 3)";
  }
}

TEST(RowsTest, TreeRowRoundTripAndRefcountInPlace) {
  const Tree t = {{"a", EntryKind::kDirectory, 0755, 0, 5, {}},
                  {"a/f", EntryKind::kFile, 0644, 9, 6, Hash128::Of("f")}};
  const std::string encoded = EncodeTree(t);
  std::string row = EncodeTreeRow(3, encoded);
  EXPECT_EQ(row.size(), 4 + encoded.size());
  uint32_t rc = 0;
  Tree back;
  ASSERT_TRUE(DecodeTreeRow(row, &rc, &back));
  EXPECT_EQ(rc, 3u);
  EXPECT_EQ(back, t);
  ASSERT_TRUE(RowRefcount(row, &rc));
  EXPECT_EQ(rc, 3u);

  SetRowRefcount(&row, 0x01020304);
  ASSERT_TRUE(RowRefcount(row, &rc));
  EXPECT_EQ(rc, 0x01020304u);
  ASSERT_TRUE(DecodeTreeRow(row, &rc, &back));
  EXPECT_EQ(back, t);  // the rest is untouched
  EXPECT_EQ(row.substr(4), encoded);

  // The same for a manifest row.
  Manifest m;
  m.chunks = {{Hash128::Of("a"), 5}};
  m.size = 5;
  std::string mrow = EncodeManifest(m, 1);
  SetRowRefcount(&mrow, 77);
  ASSERT_TRUE(RowRefcount(mrow, &rc));
  EXPECT_EQ(rc, 77u);
  Manifest mb;
  ASSERT_TRUE(DecodeManifest(mrow, &mb, &rc));
  EXPECT_EQ(rc, 77u);
  EXPECT_EQ(mb.size, 5u);
}

TEST(RowsTest, TreeRowRejectsTruncatedAndOverlong) {
  const Tree t = {{"f", EntryKind::kFile, 0644, 9, 6, Hash128::Of("f")}};
  const std::string row = EncodeTreeRow(1, EncodeTree(t));
  ExpectEveryPrefixRejected(row, [](std::string_view b) {
    uint32_t rc;
    Tree back;
    return DecodeTreeRow(b, &rc, &back);
  });
  uint32_t rc;
  Tree back;
  EXPECT_FALSE(DecodeTreeRow(row + "x", &rc, &back));
  for (size_t n = 0; n < 4; ++n) EXPECT_FALSE(RowRefcount(row.substr(0, n), &rc)) << n;
  // (A bad entry kind inside a row: TreeRejectsBadEntryKind; DecodeTreeRow
  // decodes the tree with DecodeTree.)
}

TEST(RowsTest, SeqValueRoundTripIsLittleEndian) {
  EXPECT_EQ(EncodeSeqValue(0x0102030405060708ull), std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
  for (uint64_t seq : {uint64_t{0}, uint64_t{1}, std::numeric_limits<uint64_t>::max()}) {
    uint64_t back = 5;
    ASSERT_TRUE(DecodeSeqValue(EncodeSeqValue(seq), &back));
    EXPECT_EQ(back, seq);
  }
}

TEST(RowsTest, SeqValueRejectsWrongSize) {
  const std::string v = EncodeSeqValue(9);
  ExpectEveryPrefixRejected(v, [](std::string_view b) {
    uint64_t seq;
    return DecodeSeqValue(b, &seq);
  });
  uint64_t seq;
  EXPECT_FALSE(DecodeSeqValue(v + "x", &seq));
}

TEST(RowsTest, ChangeKindNamesAndMarks) {
  EXPECT_STREQ(ChangeKindName(ChangeKind::kPut), "put");
  EXPECT_STREQ(ChangeKindName(ChangeKind::kRemove), "remove");
  EXPECT_STREQ(ChangeKindName(ChangeKind::kLink), "link");
  EXPECT_EQ(ChangeKindMark(ChangeKind::kPut), '+');
  EXPECT_EQ(ChangeKindMark(ChangeKind::kRemove), '-');
  EXPECT_EQ(ChangeKindMark(ChangeKind::kLink), '=');
}

}  // namespace
}  // namespace ciuicfs
