#include "store/pack/pack_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "store/pack/local_backend.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using testing::RandomBytes;
using testing::FlipByte;
using testing::TempDir;

Result<PackLocation> AppendString(PackStore* p, const std::string& s) {
  return p->Append(Hash128::Of(s), reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(PackTest, AppendThenReadBack) {
  TempDir dir;
  LocalPackBackend packs_files(dir.path());
  PackStore packs(&packs_files, 1, 1 << 20);
  std::string a = RandomBytes(1, 100000), b = RandomBytes(2, 5);
  auto la = AppendString(&packs, a);
  auto lb = AppendString(&packs, b);
  ASSERT_TRUE(la.ok() && lb.ok());
  EXPECT_EQ(la->pack, 1u);
  EXPECT_EQ(la->offset, kPackHeaderSize);
  EXPECT_EQ(lb->offset, la->end());
  std::string out;
  ASSERT_TRUE(packs.Read(Hash128::Of(a), *la, &out).ok());
  EXPECT_EQ(out, a);
  ASSERT_TRUE(packs.Read(Hash128::Of(b), *lb, &out).ok());
  EXPECT_EQ(out, b);
  // Asking for the wrong id at a location is corruption, not wrong bytes.
  Status s = packs.Read(Hash128::Of(b), *la, &out);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
}

TEST(PackTest, FlippedPayloadByteIsCorruptionNamingChunkAndPack) {
  TempDir dir;
  LocalPackBackend packs_files(dir.path());
  PackStore packs(&packs_files, 1, 1 << 20);
  std::string a = RandomBytes(3, 4096);
  auto la = AppendString(&packs, a);
  ASSERT_TRUE(la.ok());
  FlipByte(dir.Sub(PackFileName(1)), la->offset + kRecordHeaderSize + 100);
  LocalPackBackend reopened_files(dir.path());
  PackStore reopened(&reopened_files, 2, 1 << 20);  // no cached handle
  std::string out;
  Status s = reopened.Read(Hash128::Of(a), *la, &out);
  ASSERT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_NE(s.message().find(Hash128::Of(a).Hex()), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("packs/00000001.pack"), std::string::npos) << s.message();
  EXPECT_TRUE(out.empty());
}

TEST(PackTest, FlippedHeaderByteIsCorruption) {
  TempDir dir;
  LocalPackBackend packs_files(dir.path());
  PackStore packs(&packs_files, 1, 1 << 20);
  std::string a = RandomBytes(4, 4096);
  auto la = AppendString(&packs, a);
  ASSERT_TRUE(la.ok());
  FlipByte(dir.Sub(PackFileName(1)), la->offset + 50);  // reserved byte, covered by the checksum
  std::string out;
  EXPECT_TRUE(packs.Read(Hash128::Of(a), *la, &out).IsCorruption());
}

TEST(PackTest, ScanStopsAtTornTail) {
  TempDir dir;
  LocalPackBackend packs_files(dir.path());
  PackStore packs(&packs_files, 1, 1 << 20);
  std::vector<PackLocation> locs;
  for (int i = 0; i < 5; ++i) locs.push_back(*AppendString(&packs, RandomBytes(10 + i, 3000 + i)));
  uint64_t size = *packs.FileSize(1);
  ASSERT_EQ(size, locs.back().end());
  ASSERT_TRUE(packs.Truncate(1, size - 10).ok());  // tear the last record
  std::vector<ScannedRecord> recs;
  uint64_t valid_end = 0;
  ASSERT_TRUE(packs.Scan(1, 0, size, true, &recs, &valid_end).ok());
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(valid_end, locs[3].end());
  EXPECT_EQ(recs[2].location.offset, locs[2].offset);
  EXPECT_EQ(recs[2].id, Hash128::Of(RandomBytes(12, 3002)));
}

TEST(PackTest, RollsOverAtTargetSize) {
  TempDir dir;
  LocalPackBackend packs_files(dir.path());
  PackStore packs(&packs_files, 7, 10000);
  std::vector<PackLocation> locs;
  for (int i = 0; i < 6; ++i) locs.push_back(*AppendString(&packs, RandomBytes(20 + i, 4000)));
  EXPECT_EQ(locs[0].pack, 7u);
  EXPECT_GT(locs.back().pack, 7u);
  auto files = packs.ListFiles();
  ASSERT_TRUE(files.ok());
  EXPECT_GE(files->size(), 2u);
  for (uint32_t p : *files) EXPECT_LE(*packs.FileSize(p), 10000u + kRecordHeaderSize + 4000);
}

}  // namespace
}  // namespace ciuicfs
