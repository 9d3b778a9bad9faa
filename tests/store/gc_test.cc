#include <gtest/gtest.h>

#include <filesystem>

#include "store/store.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

StoreOptions SmallPacks() {
  StoreOptions o;
  o.pack_target_size = 4 << 20;
  return o;
}

TEST(GcTest, PruneThenGcFreesSpaceAndKeepsRetainedVersionsExact) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  std::vector<std::string> saves;
  {
    auto store = OpenStore(path, SmallPacks());
    for (int i = 0; i < 6; ++i) {
      saves.push_back(RandomBytes(100 + i, 6 << 20));
      CommitFile(store.get(), "model.pt", saves.back(), i * 10);
    }
  }
  auto store = OpenStore(path, SmallPacks());  // no active pack now
  uint64_t before = store->Stats()->stored_bytes;
  ASSERT_TRUE(store->DropSnapshots({1, 2, 3, 4}).ok());
  EXPECT_EQ(store->ListSnapshots()->size(), 2u);
  // Dropping only releases; bytes stay until gc.
  EXPECT_EQ(store->Stats()->stored_bytes, before);
  ExpectVerifyClean(store.get());
  auto gc = store->Gc({});
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_GT(gc->chunks_deleted, 0u);
  EXPECT_EQ(gc->bytes_before, before);
  uint64_t after = store->Stats()->stored_bytes;
  EXPECT_EQ(gc->bytes_after, after);
  EXPECT_LT(after, before / 2);           // four of six saves freed
  EXPECT_GE(after, 2 * (6u << 20));        // the two kept saves remain
  auto kept = store->ListSnapshots();
  ASSERT_TRUE(kept.ok());
  for (const Snapshot& s : *kept)
    EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), s, "model.pt")), saves[s.seq - 1]);
  ExpectVerifyClean(store.get());
  // And the store keeps working after gc.
  CommitFile(store.get(), "model.pt", saves[0]);
  EXPECT_EQ(ReadVersion(store.get(), Hash128::Of(saves[0])), saves[0]);
  ExpectVerifyClean(store.get());
}

TEST(GcTest, CompactsAPackThatIsMostlyGarbage) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  std::string keep = RandomBytes(1, 1 << 20);
  {
    auto store = OpenStore(path);  // one big pack holds everything
    CommitFile(store.get(), "a", RandomBytes(2, 6 << 20));
    CommitFile(store.get(), "keep", keep);
    CommitRequest rm;
    rm.edits.push_back(TreeEdit::Remove("a"));
    ASSERT_TRUE(store->Commit(rm).ok());
  }
  auto store = OpenStore(path);
  ASSERT_TRUE(store->DropSnapshots({1, 2}).ok());
  // Progress: the live bytes copied out of the picked pack, from 0 up to
  // the whole of what stays (keep's megabyte, with record headers).
  std::vector<std::pair<uint64_t, uint64_t>> heard;
  auto gc = store->Gc({}, [&](uint64_t done, uint64_t total) { heard.emplace_back(done, total); });
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->packs_compacted, 1u);
  ASSERT_GE(heard.size(), 2u);
  EXPECT_EQ(heard.front().first, 0u);
  EXPECT_GE(heard.back().second, 1u << 20);
  EXPECT_LT(heard.back().second, (1u << 20) + 100000);
  EXPECT_EQ(heard.back().first, heard.back().second);
  for (size_t i = 1; i < heard.size(); ++i) {
    EXPECT_GE(heard[i].first, heard[i - 1].first);
    EXPECT_EQ(heard[i].second, heard.back().second);
  }
  // Nothing left to compact: no progress at all.
  heard.clear();
  ASSERT_TRUE(store->Gc({}, [&](uint64_t done, uint64_t total) { heard.emplace_back(done, total); }).ok());
  EXPECT_TRUE(heard.empty());
  EXPECT_LT(gc->bytes_after, (1u << 20) + 100000);
  EXPECT_FALSE(std::filesystem::exists(path + "/packs/00000001.pack"));
  EXPECT_EQ(ReadVersion(store.get(), Hash128::Of(keep)), keep);
  ExpectVerifyClean(store.get());
}

TEST(GcTest, CompactsTheActivePackWhenMostOfItIsDead) {
  // A mount that saved, dropped what it saved and went quiet: all of it in
  // the pack its saves still append to.
  TempDir dir;
  const std::string path = dir.Sub("s");
  const std::string keep = RandomBytes(3, 1 << 20), later = RandomBytes(4, 1 << 20);
  auto store = OpenStore(path);
  CommitFile(store.get(), "a", RandomBytes(5, 6 << 20));
  CommitFile(store.get(), "keep", keep);
  CommitRequest rm;
  rm.edits.push_back(TreeEdit::Remove("a"));
  ASSERT_TRUE(store->Commit(rm).ok());
  ASSERT_TRUE(store->DropSnapshots({1, 2}).ok());
  auto gc = store->Gc({});
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->packs_compacted, 1u);
  EXPECT_LT(gc->bytes_after, (1u << 20) + 100000);
  EXPECT_FALSE(std::filesystem::exists(path + "/packs/00000001.pack"));
  // Saves go on into a new pack; everything reads back.
  CommitFile(store.get(), "later", later);
  EXPECT_EQ(ReadVersion(store.get(), Hash128::Of(keep)), keep);
  EXPECT_EQ(ReadVersion(store.get(), Hash128::Of(later)), later);
  ExpectVerifyClean(store.get());
  // A pack mostly alive stays the active one: the next gc compacts nothing.
  auto again = store->Gc({});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->packs_compacted, 0u);
}

TEST(GcTest, NeverRemovesAChunkAnUnfinishedIngestUses) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  std::string data = RandomBytes(5, 3 << 20);
  {
    auto store = OpenStore(path, SmallPacks());
    CommitFile(store.get(), "x", data);
    CommitFile(store.get(), "x", RandomBytes(6, 1 << 20));
  }
  auto store = OpenStore(path, SmallPacks());
  ASSERT_TRUE(store->DropSnapshots({1}).ok());  // data's chunks now unreferenced
  PendingVersion v = Ingest(store.get(), data);  // ...but this ingest found and pinned them
  EXPECT_EQ(v.bytes_written(), 0u);
  auto gc = store->Gc({});
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->chunks_deleted, 0u);
  CommitRequest req;
  req.edits.push_back(TreeEdit::PutFile("x", 0644, 1, &v));
  ASSERT_TRUE(store->Commit(req).ok());
  EXPECT_EQ(ReadVersion(store.get(), Hash128::Of(data)), data);
  ExpectVerifyClean(store.get());
}

TEST(GcTest, HeadCannotBeDropped) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  CommitFile(store.get(), "a", "1");
  CommitFile(store.get(), "a", "2");
  Status s = store->DropSnapshots({2});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(store->DropSnapshots({9}).IsNotFound());
  EXPECT_EQ(store->ListSnapshots()->size(), 2u);  // nothing changed
}

TEST(GcTest, SharedChunksSurviveDroppingOneUser) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  std::string frozen = RandomBytes(9, 4 << 20);
  std::string v1 = frozen + RandomBytes(10, 1 << 20);
  std::string v2 = frozen + RandomBytes(11, 1 << 20);
  CommitFile(store.get(), "m", v1);
  CommitFile(store.get(), "m", v2);
  ASSERT_TRUE(store->DropSnapshots({1}).ok());
  ASSERT_TRUE(store->Gc({}).ok());
  EXPECT_EQ(ReadVersion(store.get(), Hash128::Of(v2)), v2);
  ExpectVerifyClean(store.get());
}

}  // namespace
}  // namespace ciuicfs
