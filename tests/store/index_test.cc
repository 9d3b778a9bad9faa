#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "store/index/keys.h"
#include "store/index/lmdb_env.h"
#include "store/index/queries.h"
#include "store/index/rows.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using testing::TempDir;

// Lowercase hex of raw bytes, the way CorruptRow names a key.
std::string HexBytes(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

// Every strict prefix of `encoded` (a truncated row) must not decode.
void ExpectEveryPrefixRejected(const std::string& encoded, const std::function<bool(std::string_view)>& decode) {
  for (size_t n = 0; n < encoded.size(); ++n)
    EXPECT_FALSE(decode(std::string_view(encoded).substr(0, n)))
        << "a prefix of " << n << " of " << encoded.size() << " bytes decoded";
}

// An index in a fresh temp dir.
struct TestIndex {
  TempDir dir;
  std::unique_ptr<LmdbEnv> env;
  TestIndex() {
    auto opened = LmdbEnv::Open(dir.path(), 1 << 20, false);
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    if (opened.ok()) env = std::move(*opened);
  }
};

// Runs `fn` in a read transaction.
void InRead(LmdbEnv* env, const std::function<void(Txn&)>& fn) {
  auto txn = env->BeginRead();
  ASSERT_TRUE(txn.ok()) << txn.status().ToString();
  fn(**txn);
}

void PutRaw(LmdbEnv* env, Db db, const std::string& key, const std::string& value) {
  Status s = env->Write([&](Txn& txn) { return txn.Put(db, key, value); });
  ASSERT_TRUE(s.ok()) << s.ToString();
}

void ExpectCorruptionNaming(const Status& s, const char* db, const std::string& key) {
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find(db), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(HexBytes(key)), std::string::npos) << s.message();
}

// ---------------------------------------------------------------------------
// The tests that were here before the split (records_test).

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

// ---------------------------------------------------------------------------
// Keys (keys.h): each round-trips, each Decode rejects the wrong shape.

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

TEST(KeysTest, PathKeyRoundTrip) {
  for (std::string path : {std::string(), std::string("a"), std::string("a/b/model.pt"), std::string(300, 'x')}) {
    for (uint64_t seq : {uint64_t{0}, uint64_t{1}, uint64_t{256}, std::numeric_limits<uint64_t>::max()}) {
      const std::string k = PathKey(path, seq);
      EXPECT_EQ(k.size(), path.size() + 9);
      EXPECT_EQ(k.substr(0, path.size() + 1), PathPrefix(path));
      uint64_t back = 42;
      ASSERT_TRUE(DecodePathKey(k, path, &back)) << path << " " << seq;
      EXPECT_EQ(back, seq);
    }
  }
  EXPECT_EQ(PathPrefix("a/b"), std::string("a/b\0", 4));
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

TEST(KeysTest, PathKeyRejectsOtherPathsAndWrongShapes) {
  const std::string k = PathKey("a/b", 5);
  struct Case {
    const char* what;
    std::string key;
    std::string path;
  };
  const std::vector<Case> cases = {
      {"truncated seq", k.substr(0, k.size() - 1), "a/b"},
      {"extra byte", k + "x", "a/b"},
      {"prefix only", PathPrefix("a/b"), "a/b"},
      {"empty", "", "a/b"},
      {"another path", PathKey("a/c", 5), "a/b"},
      {"a longer path", PathKey("a/bc", 5), "a/b"},
      {"a shorter path", PathKey("a/", 5), "a/b"},
      {"no separator", "a/b" + SeqKey(0x0101010101010101ull) + "x", "a/b"},
      {"separator not zero", "a/b/" + SeqKey(5), "a/b"},
      {"asked for a parent", k, "a"},
  };
  for (const Case& c : cases) {
    uint64_t seq;
    EXPECT_FALSE(DecodePathKey(c.key, c.path, &seq)) << c.what;
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

TEST(KeysTest, PathKeysOfOnePathAreContiguousAndInSeqOrder) {
  // Byte order of the paths themselves: "a" < "a-b" < "a/b" < "ab".
  EXPECT_LT(PathKey("a", std::numeric_limits<uint64_t>::max()), PathKey("a-b", 0));
  EXPECT_LT(PathKey("a", std::numeric_limits<uint64_t>::max()), PathKey("a/b", 0));
  EXPECT_LT(PathKey("a", std::numeric_limits<uint64_t>::max()), PathKey("ab", 0));
  EXPECT_LT(PathKey("a", 255), PathKey("a", 256));
  // A longer path is not under a shorter one's prefix.
  for (const char* other : {"a-b", "a/b", "ab", "a\x01"}) {
    const std::string k = PathKey(other, 1);
    EXPECT_NE(k.compare(0, 2, PathPrefix("a")), 0) << other;
  }

  TestIndex index;
  ASSERT_NE(index.env, nullptr);
  struct Row {
    std::string path;
    uint64_t seq;
  };
  const std::vector<Row> rows = {{"ab", 1},    {"a", 256}, {"a/b", 3}, {"a", 2},   {"a-b", 4},
                                 {"a", 65536}, {"", 9},    {"a", 1},   {"a/b", 1}, {"b", 0}};
  Status s = index.env->Write([&](Txn& txn) {
    for (const Row& r : rows)
      CIUIC_RETURN_IF_ERROR(txn.Put(Db::kPaths, PathKey(r.path, r.seq), EncodePathRow({ChangeKind::kPut, {}, r.seq})));
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::vector<uint64_t> seqs;
  InRead(index.env.get(), [&](Txn& txn) {
    const std::string prefix = PathPrefix("a");
    Status scan = txn.Scan(Db::kPaths, prefix, [&](std::string_view k, std::string_view) {
      if (k.substr(0, prefix.size()) != prefix) return false;
      uint64_t seq;
      EXPECT_TRUE(DecodePathKey(k, "a", &seq));
      seqs.push_back(seq);
      return true;
    });
    EXPECT_TRUE(scan.ok()) << scan.ToString();
  });
  EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 2, 256, 65536}));
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

// ---------------------------------------------------------------------------
// Values (rows.h): each round-trips, each Decode rejects truncated,
// over-long and bad-kind bytes.

TEST(RowsTest, ChunkRowRoundTrip) {
  const std::vector<ChunkRow> rows = {
      {},
      {{1, kPackHeaderSize, 100, 100, Encoding::kRaw}, 1},
      {{kLostPack, 123456789012ull, 7, 9, Encoding::kZstd}, 3},
      {{~0u, ~0ull, ~0u, ~0u, Encoding::kXorDeltaZstd}, ~0u},
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

TEST(RowsTest, ChunkRowRejectsWrongSize) {
  const std::string v = EncodeChunkRow({{3, 100, 50, 60, Encoding::kRaw}, 2});
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

TEST(RowsTest, PathRowRoundTrip) {
  for (const PathRow& row : {PathRow{ChangeKind::kPut, Hash128::Of("v"), 10}, PathRow{ChangeKind::kRemove, {}, 0},
                             PathRow{ChangeKind::kLink, Hash128{~0ull, ~0ull}, ~0ull}}) {
    const std::string v = EncodePathRow(row);
    EXPECT_EQ(v.size(), 25u);
    PathRow back{ChangeKind::kRemove, Hash128::Of("junk"), 99};
    ASSERT_TRUE(DecodePathRow(v, &back));
    EXPECT_EQ(back.kind, row.kind);
    EXPECT_EQ(back.version, row.version);
    EXPECT_EQ(back.size, row.size);
  }
}

TEST(RowsTest, PathRowRejectsMalformed) {
  const std::string v = EncodePathRow({ChangeKind::kLink, Hash128::Of("v"), 10});
  ExpectEveryPrefixRejected(v, [](std::string_view b) {
    PathRow row;
    return DecodePathRow(b, &row);
  });
  PathRow row;
  EXPECT_FALSE(DecodePathRow(v + "x", &row));
  for (uint8_t kind : {0, 4, 255}) {
    std::string bad = v;
    bad[0] = static_cast<char>(kind);
    EXPECT_FALSE(DecodePathRow(bad, &row)) << int(kind);
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

// ---------------------------------------------------------------------------
// Queries (queries.h) on a real LMDB environment.

TEST(QueriesTest, RowsRoundTripThroughLmdb) {
  TestIndex index;
  ASSERT_NE(index.env, nullptr);
  const ChunkId c = Hash128::Of("chunk");
  Status s = index.env->Write([&](Txn& txn) {
    CIUIC_RETURN_IF_ERROR(PutChunkRow(txn, c, {{4, 16, 100, 200, Encoding::kRaw}, 3}));
    CIUIC_RETURN_IF_ERROR(PutPackRow(txn, 4, {116, 16, 164, 1}));
    CIUIC_RETURN_IF_ERROR(PutPackRow(txn, 256, {1, 2, 3, 4}));
    return PutPackRow(txn, 2, {5, 6, 7, 8});
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  InRead(index.env.get(), [&](Txn& txn) {
    auto chunk = GetChunkRow(txn, c);
    ASSERT_TRUE(chunk.ok()) << chunk.status().ToString();
    ASSERT_TRUE(chunk->has_value());
    EXPECT_EQ((*chunk)->location.pack, 4u);
    EXPECT_EQ((*chunk)->location.raw_len, 200u);
    EXPECT_EQ((*chunk)->refcount, 3u);
    auto missing = GetChunkRow(txn, Hash128::Of("other"));
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing->has_value());
    auto pack = GetPackRow(txn, 4);
    ASSERT_TRUE(pack.ok() && pack->has_value());
    EXPECT_EQ((*pack)->live_bytes, 164u);
    auto no_pack = GetPackRow(txn, 5);
    ASSERT_TRUE(no_pack.ok());
    EXPECT_FALSE(no_pack->has_value());
    auto all = LoadPackRows(txn);
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    ASSERT_EQ(all->size(), 3u);
    std::vector<uint32_t> packs;
    for (auto& [n, row] : *all) packs.push_back(n);
    EXPECT_EQ(packs, (std::vector<uint32_t>{2, 4, 256}));
    EXPECT_EQ(all->at(256).live_records, 4u);
    uint32_t rc = 9;
    auto m = LoadManifest(txn, Hash128::Of("no such version"), &rc);
    EXPECT_TRUE(m.status().IsNotFound()) << m.status().ToString();
  });
}

TEST(QueriesTest, UndecodableChunkRowIsCorruptionNamingChunks) {
  TestIndex index;
  ASSERT_NE(index.env, nullptr);
  const ChunkId id = Hash128::Of("c");
  const std::string good = EncodeChunkRow({{1, 16, 5, 5, Encoding::kRaw}, 1});
  for (const std::string& bad : {std::string(), good.substr(0, 24), good + "x"}) {
    PutRaw(index.env.get(), Db::kChunks, HashKey(id), bad);
    InRead(index.env.get(), [&](Txn& txn) {
      auto row = GetChunkRow(txn, id);
      ExpectCorruptionNaming(row.status(), "chunks", HashKey(id));
    });
  }
  // AddManifest meets it too, and says so.
  Manifest m;
  m.id = Hash128::Of("v");
  m.chunks = {{id, 5}};
  m.size = 5;
  Status s = index.env->Write([&](Txn& txn) { return AddManifest(txn, m); });
  ExpectCorruptionNaming(s, "chunks", HashKey(id));
}

TEST(QueriesTest, UndecodablePackRowIsCorruptionNamingPacks) {
  TestIndex index;
  ASSERT_NE(index.env, nullptr);
  const std::string good = EncodePackRow({1, 2, 3, 4});
  for (const std::string& bad : {std::string(), good.substr(0, 31), good + "x"}) {
    PutRaw(index.env.get(), Db::kPacks, PackKey(1), EncodePackRow({16, 16, 0, 0}));
    PutRaw(index.env.get(), Db::kPacks, PackKey(7), bad);
    InRead(index.env.get(), [&](Txn& txn) {
      ExpectCorruptionNaming(GetPackRow(txn, 7).status(), "packs", PackKey(7));
      ExpectCorruptionNaming(LoadPackRows(txn).status(), "packs", PackKey(7));
      // The good row still reads.
      auto ok = GetPackRow(txn, 1);
      EXPECT_TRUE(ok.ok() && ok->has_value());
    });
  }
}

TEST(QueriesTest, PackKeyOfWrongSizeIsCorruptionNamingPacks) {
  TestIndex index;
  ASSERT_NE(index.env, nullptr);
  const std::string bad_key("\x00\x00\x07", 3);
  PutRaw(index.env.get(), Db::kPacks, bad_key, EncodePackRow({1, 2, 3, 4}));
  InRead(index.env.get(), [&](Txn& txn) { ExpectCorruptionNaming(LoadPackRows(txn).status(), "packs", bad_key); });
}

TEST(QueriesTest, UndecodableManifestRowIsCorruptionNamingManifests) {
  TestIndex index;
  ASSERT_NE(index.env, nullptr);
  const VersionId vid = Hash128::Of("v");
  Manifest m;
  m.chunks = {{Hash128::Of("a"), 10}};
  m.size = 10;
  const std::string good = EncodeManifest(m, 1);
  std::string wrong_size = good;
  wrong_size[4] = 11;
  for (const std::string& bad : {std::string("\x01\x00", 2), good.substr(0, good.size() - 1), good + "x", wrong_size}) {
    PutRaw(index.env.get(), Db::kManifests, HashKey(vid), bad);
    InRead(index.env.get(), [&](Txn& txn) {
      uint32_t rc;
      ExpectCorruptionNaming(LoadManifest(txn, vid, &rc).status(), "manifests", HashKey(vid));
    });
    Status s = index.env->Write([&](Txn& txn) { return DropVersionRefs(txn, {{vid, 1}}); });
    ExpectCorruptionNaming(s, "manifests", HashKey(vid));
  }
  // A row too short to hold a refcount cannot be counted either.
  PutRaw(index.env.get(), Db::kManifests, HashKey(vid), std::string("\x01\x00", 2));
  Status s = index.env->Write([&](Txn& txn) { return AddVersionRefs(txn, {{vid, 1}}); });
  ExpectCorruptionNaming(s, "manifests", HashKey(vid));
}

// Reads refcounts in a fresh read transaction.
struct Counts {
  LmdbEnv* env;
  // nullopt when the version has no row.
  std::optional<uint32_t> Version(const VersionId& id) {
    std::optional<uint32_t> out;
    InRead(env, [&](Txn& txn) {
      uint32_t rc = 0;
      auto m = LoadManifest(txn, id, &rc);
      if (m.ok()) {
        out = rc;
      } else {
        EXPECT_TRUE(m.status().IsNotFound()) << m.status().ToString();
      }
    });
    return out;
  }
  std::optional<uint32_t> Chunk(const ChunkId& id) {
    std::optional<uint32_t> out;
    InRead(env, [&](Txn& txn) {
      auto row = GetChunkRow(txn, id);
      EXPECT_TRUE(row.ok()) << row.status().ToString();
      if (row.ok() && row->has_value()) out = (*row)->refcount;
    });
    return out;
  }
};

TEST(QueriesTest, ManifestAndChunkRefcountsStayExact) {
  TestIndex index;
  ASSERT_NE(index.env, nullptr);
  Counts counts{index.env.get()};
  const ChunkId a = Hash128::Of("a"), b = Hash128::Of("b"), c = Hash128::Of("c");
  Manifest m1;  // a twice, then b
  m1.id = Hash128::Of("v1");
  m1.chunks = {{a, 10}, {b, 20}, {a, 30}};
  m1.size = 30;
  Manifest m2;
  m2.id = Hash128::Of("v2");
  m2.chunks = {{b, 5}, {c, 6}};
  m2.size = 6;

  Status s = index.env->Write([&](Txn& txn) {
    for (const ChunkId& id : {a, b, c})
      CIUIC_RETURN_IF_ERROR(PutChunkRow(txn, id, {{1, 16, 10, 10, Encoding::kRaw}, 0}));
    CIUIC_RETURN_IF_ERROR(AddManifest(txn, m1));
    CIUIC_RETURN_IF_ERROR(AddManifest(txn, m1));  // an existing version is left alone
    return AddManifest(txn, m2);
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(counts.Version(m1.id), 0u);
  EXPECT_EQ(counts.Version(m2.id), 0u);
  EXPECT_EQ(counts.Chunk(a), 2u);
  EXPECT_EQ(counts.Chunk(b), 2u);
  EXPECT_EQ(counts.Chunk(c), 1u);

  s = index.env->Write([&](Txn& txn) { return AddVersionRefs(txn, {{m1.id, 2}, {m2.id, 1}}); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(counts.Version(m1.id), 2u);
  EXPECT_EQ(counts.Version(m2.id), 1u);
  // Counting refs changes neither the manifest's content nor its chunks.
  InRead(index.env.get(), [&](Txn& txn) {
    auto back = LoadManifest(txn, m1.id, nullptr);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->size, 30u);
    ASSERT_EQ(back->chunks.size(), 3u);
    EXPECT_EQ(back->chunks[2].id, a);
  });
  EXPECT_EQ(counts.Chunk(a), 2u);

  s = index.env->Write([&](Txn& txn) { return DropVersionRefs(txn, {{m1.id, 1}}); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(counts.Version(m1.id), 1u);
  EXPECT_EQ(counts.Chunk(a), 2u);
  EXPECT_EQ(counts.Chunk(b), 2u);

  // The last reference: the version goes, its chunks' counts fall, their rows stay.
  s = index.env->Write([&](Txn& txn) { return DropVersionRefs(txn, {{m1.id, 1}}); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(counts.Version(m1.id), std::nullopt);
  EXPECT_EQ(counts.Chunk(a), 0u);
  EXPECT_EQ(counts.Chunk(b), 1u);
  EXPECT_EQ(counts.Chunk(c), 1u);
  EXPECT_EQ(counts.Version(m2.id), 1u);

  s = index.env->Write([&](Txn& txn) { return DropVersionRefs(txn, {{m2.id, 1}}); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(counts.Version(m2.id), std::nullopt);
  EXPECT_EQ(counts.Chunk(b), 0u);
  EXPECT_EQ(counts.Chunk(c), 0u);

  // A version stored again after it was dropped counts its chunks again.
  s = index.env->Write([&](Txn& txn) { return AddManifest(txn, m1); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(counts.Version(m1.id), 0u);
  EXPECT_EQ(counts.Chunk(a), 2u);
  EXPECT_EQ(counts.Chunk(b), 1u);
}

TEST(QueriesTest, RefcountsRefuseMissingRows) {
  TestIndex index;
  ASSERT_NE(index.env, nullptr);
  Counts counts{index.env.get()};
  Manifest m;
  m.id = Hash128::Of("v");
  m.chunks = {{Hash128::Of("no row"), 4}};
  m.size = 4;
  // A version whose chunk has no row is refused, and nothing is stored.
  Status s = index.env->Write([&](Txn& txn) { return AddManifest(txn, m); });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_EQ(counts.Version(m.id), std::nullopt);
  // Counting a version that does not exist is refused.
  s = index.env->Write([&](Txn& txn) { return AddVersionRefs(txn, {{m.id, 1}}); });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find(m.id.Hex()), std::string::npos) << s.message();
}

}  // namespace
}  // namespace ciuicfs
