#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "store/pack/pack_store.h"
#include "store/store.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

TEST(VerifyTest, CleanStoreVerifies) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  CommitFile(store.get(), "a", RandomBytes(1, 3 << 20));
  CommitFile(store.get(), "b", RandomBytes(2, 1 << 20));
  auto r = store->Verify();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok());
  EXPECT_EQ(r->snapshots, 2u);
  EXPECT_EQ(r->versions, 2u);
  EXPECT_GT(r->chunks, 4u);
}

TEST(VerifyTest, FlippedPackByteIsCorruptionOnReadAndInVerify) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  std::string good = RandomBytes(1, 2 << 20);
  std::string bad = RandomBytes(2, 2 << 20);
  Snapshot s;
  {
    auto store = OpenStore(path);
    CommitFile(store.get(), "good.pt", good);
    s = CommitFile(store.get(), "ckpt/bad.pt", bad);
  }
  // The last chunk of bad.pt is the last record of the only pack.
  uint64_t size = FileSize(path + "/packs/00000001.pack");
  FlipByte(path + "/packs/00000001.pack", size - 10);
  auto store = OpenStore(path);
  auto reader = store->OpenVersion(Hash128::Of(bad));
  ASSERT_TRUE(reader.ok());
  std::string buf(bad.size(), '\0');
  auto n = (*reader)->Read(0, buf.size(), buf.data());
  ASSERT_FALSE(n.ok());
  EXPECT_TRUE(n.status().IsCorruption()) << n.status().ToString();
  const ChunkId last = (*reader)->manifest().chunks.back().id;
  EXPECT_NE(n.status().message().find(last.Hex()), std::string::npos) << n.status().message();
  EXPECT_NE(n.status().message().find("packs/00000001.pack"), std::string::npos);
  // Earlier chunks of the same file still read; the other file is intact.
  const uint64_t last_start = (*reader)->manifest().ChunkStart((*reader)->manifest().chunks.size() - 1);
  auto head_part = (*reader)->Read(0, last_start, buf.data());
  ASSERT_TRUE(head_part.ok());
  EXPECT_EQ(buf.substr(0, last_start), bad.substr(0, last_start));
  EXPECT_EQ(ReadVersion(store.get(), Hash128::Of(good)), good);

  auto report = store->Verify();
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->problems.size(), 1u);
  const std::string& p = report->problems[0];
  EXPECT_NE(p.find(last.Hex()), std::string::npos) << p;
  EXPECT_NE(p.find("packs/00000001.pack"), std::string::npos) << p;
  EXPECT_NE(p.find("ckpt/bad.pt@2"), std::string::npos) << p;
}

TEST(VerifyTest, MissingPackIsReported) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  {
    StoreOptions o;
    o.pack_target_size = 1 << 20;
    auto store = OpenStore(path, o);
    CommitFile(store.get(), "a", RandomBytes(1, 4 << 20));
  }
  ASSERT_EQ(unlink((path + "/packs/00000002.pack").c_str()), 0);
  auto store = OpenStore(path);
  auto report = store->Verify();
  ASSERT_TRUE(report.ok());
  ASSERT_FALSE(report->ok());
  bool named = false;
  for (auto& p : report->problems) named = named || p.find("packs/00000002.pack") != std::string::npos;
  EXPECT_TRUE(named);
  std::string buf(4 << 20, '\0');
  auto reader = store->OpenVersion(Hash128::Of(RandomBytes(1, 4 << 20)));
  ASSERT_TRUE(reader.ok());
  EXPECT_TRUE((*reader)->Read(0, buf.size(), buf.data()).status().IsCorruption());
}

}  // namespace
}  // namespace ciuicfs

namespace ciuicfs {
namespace {

TEST(VerifyTest, ReportsProgressUpToTheTotal) {
  testing::TempDir dir;
  auto store = testing::OpenStore(dir.Sub("s"));
  std::string data = testing::RandomBytes(3, 600 << 20);
  testing::CommitFile(store.get(), "big", data);
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  auto report = store->Verify([&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
  ASSERT_TRUE(report.ok());
  ASSERT_GE(calls.size(), 3u);  // every 256 MiB, and at the end
  EXPECT_EQ(calls.back().first, data.size());
  EXPECT_EQ(calls.back().second, data.size());
  for (size_t i = 1; i < calls.size(); ++i) EXPECT_GE(calls[i].first, calls[i - 1].first);
}

}  // namespace
}  // namespace ciuicfs
