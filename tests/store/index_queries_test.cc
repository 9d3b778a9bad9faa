// Typed rows and reference counts on a real LMDB (store/index/queries.h):
// an undecodable row is Corruption naming its database and key.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "store/index/keys.h"
#include "store/index/queries.h"
#include "tests/store/index_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

void ExpectCorruptionNaming(const Status& s, const char* db, const std::string& key) {
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find(db), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(HexBytes(key)), std::string::npos) << s.message();
}

TEST(QueriesTest, RowsRoundTripThroughLmdb) {
  TestIndex index;
  ASSERT_NE(index.env, nullptr);
  const ChunkId c = Hash128::Of("chunk");
  Status s = index.env->Write([&](Txn& txn) {
    CIUIC_RETURN_IF_ERROR(PutChunkRow(txn, c, {{4, 16, 100, 200, Encoding::kRaw}, 3, 0, {}}));
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
  const std::string good = EncodeChunkRow({{1, 16, 5, 5, Encoding::kRaw}, 1, 0, {}});
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

TEST(QueriesTest, ManifestAndChunkRefcountsStayExact) {
  TestIndex index;
  ASSERT_NE(index.env, nullptr);
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
      CIUIC_RETURN_IF_ERROR(PutChunkRow(txn, id, {{1, 16, 10, 10, Encoding::kRaw}, 0, 0, {}}));
    CIUIC_RETURN_IF_ERROR(AddManifest(txn, m1));
    CIUIC_RETURN_IF_ERROR(AddManifest(txn, m1));  // an existing version is left alone
    return AddManifest(txn, m2);
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(VersionRefcount(index.env.get(), m1.id), 0u);
  EXPECT_EQ(VersionRefcount(index.env.get(), m2.id), 0u);
  EXPECT_EQ(ChunkRefcount(index.env.get(), a), 2u);
  EXPECT_EQ(ChunkRefcount(index.env.get(), b), 2u);
  EXPECT_EQ(ChunkRefcount(index.env.get(), c), 1u);

  s = index.env->Write([&](Txn& txn) { return AddVersionRefs(txn, {{m1.id, 2}, {m2.id, 1}}); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(VersionRefcount(index.env.get(), m1.id), 2u);
  EXPECT_EQ(VersionRefcount(index.env.get(), m2.id), 1u);
  // Counting refs changes neither the manifest's content nor its chunks.
  InRead(index.env.get(), [&](Txn& txn) {
    auto back = LoadManifest(txn, m1.id, nullptr);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->size, 30u);
    ASSERT_EQ(back->chunks.size(), 3u);
    EXPECT_EQ(back->chunks[2].id, a);
  });
  EXPECT_EQ(ChunkRefcount(index.env.get(), a), 2u);

  s = index.env->Write([&](Txn& txn) { return DropVersionRefs(txn, {{m1.id, 1}}); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(VersionRefcount(index.env.get(), m1.id), 1u);
  EXPECT_EQ(ChunkRefcount(index.env.get(), a), 2u);
  EXPECT_EQ(ChunkRefcount(index.env.get(), b), 2u);

  // The last reference: the version goes, its chunks' counts fall, their rows stay.
  s = index.env->Write([&](Txn& txn) { return DropVersionRefs(txn, {{m1.id, 1}}); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(VersionRefcount(index.env.get(), m1.id), std::nullopt);
  EXPECT_EQ(ChunkRefcount(index.env.get(), a), 0u);
  EXPECT_EQ(ChunkRefcount(index.env.get(), b), 1u);
  EXPECT_EQ(ChunkRefcount(index.env.get(), c), 1u);
  EXPECT_EQ(VersionRefcount(index.env.get(), m2.id), 1u);

  s = index.env->Write([&](Txn& txn) { return DropVersionRefs(txn, {{m2.id, 1}}); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(VersionRefcount(index.env.get(), m2.id), std::nullopt);
  EXPECT_EQ(ChunkRefcount(index.env.get(), b), 0u);
  EXPECT_EQ(ChunkRefcount(index.env.get(), c), 0u);

  // A version stored again after it was dropped counts its chunks again.
  s = index.env->Write([&](Txn& txn) { return AddManifest(txn, m1); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(VersionRefcount(index.env.get(), m1.id), 0u);
  EXPECT_EQ(ChunkRefcount(index.env.get(), a), 2u);
  EXPECT_EQ(ChunkRefcount(index.env.get(), b), 1u);
}

TEST(QueriesTest, RefcountsRefuseMissingRows) {
  TestIndex index;
  ASSERT_NE(index.env, nullptr);
  Manifest m;
  m.id = Hash128::Of("v");
  m.chunks = {{Hash128::Of("no row"), 4}};
  m.size = 4;
  // A version whose chunk has no row is refused, and nothing is stored.
  Status s = index.env->Write([&](Txn& txn) { return AddManifest(txn, m); });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_EQ(VersionRefcount(index.env.get(), m.id), std::nullopt);
  // Counting a version that does not exist is refused.
  s = index.env->Write([&](Txn& txn) { return AddVersionRefs(txn, {{m.id, 1}}); });
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find(m.id.Hex()), std::string::npos) << s.message();
}

}  // namespace
}  // namespace ciuicfs
