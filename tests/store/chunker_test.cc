#include "store/ingest/chunker.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

#include "store/base/chunk_id.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using testing::RandomBytes;

std::vector<size_t> OneShot(const Chunker& c, const std::string& data) {
  std::vector<size_t> lens;
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  for (size_t off = 0; off < data.size();) {
    size_t len = c.NextBoundary(p + off, data.size() - off);
    lens.push_back(len);
    off += len;
  }
  return lens;
}

std::vector<size_t> Streamed(const Chunker& c, const std::string& data, const std::vector<size_t>& pieces) {
  std::vector<size_t> lens;
  std::string rebuilt;
  StreamChunker s(&c, [&](const uint8_t* p, size_t n, std::shared_ptr<const void>) {
    lens.push_back(n);
    rebuilt.append(reinterpret_cast<const char*>(p), n);
    return Status::Ok();
  });
  size_t off = 0, i = 0;
  while (off < data.size()) {
    size_t n = std::min(pieces[i++ % pieces.size()], data.size() - off);
    EXPECT_TRUE(s.Append(data.data() + off, n).ok());
    off += n;
  }
  EXPECT_TRUE(s.Finish().ok());
  EXPECT_EQ(rebuilt, data);
  return lens;
}

std::multiset<ChunkId> ChunkIds(const Chunker& c, const std::string& data) {
  std::multiset<ChunkId> ids;
  size_t off = 0;
  for (size_t len : OneShot(c, data)) {
    ids.insert(Hash128::Of(data.data() + off, len));
    off += len;
  }
  return ids;
}

TEST(ChunkerParamsTest, RejectsBadParameters) {
  EXPECT_TRUE(ChunkerParams{}.Validate().ok());
  EXPECT_FALSE((ChunkerParams{64 << 10, 300 << 10, 1 << 20}).Validate().ok());  // avg not a power of 2
  EXPECT_FALSE((ChunkerParams{256 << 10, 256 << 10, 1 << 20}).Validate().ok());  // min == avg
  EXPECT_FALSE((ChunkerParams{64 << 10, 256 << 10, 256 << 10}).Validate().ok());  // avg == max
  EXPECT_FALSE((ChunkerParams{16, 256, 1024}).Validate().ok());                   // min too small
  EXPECT_FALSE((ChunkerParams{1 << 20, 2 << 20, 128 << 20}).Validate().ok());    // max too large
}

TEST(ChunkerTest, ChunksCoverDataWithinBounds) {
  Chunker c(ChunkerParams{});
  std::string data = RandomBytes(1, 16 << 20);
  std::vector<size_t> lens = OneShot(c, data);
  size_t total = 0;
  for (size_t i = 0; i < lens.size(); ++i) {
    total += lens[i];
    EXPECT_LE(lens[i], c.params().max_size);
    if (i + 1 < lens.size()) EXPECT_GE(lens[i], c.params().min_size);
  }
  EXPECT_EQ(total, data.size());
  double mean = double(data.size()) / lens.size();
  EXPECT_GT(mean, c.params().avg_size * 0.6);
  EXPECT_LT(mean, c.params().avg_size * 1.6);
}

TEST(ChunkerTest, BoundariesAreFixedByTheFormat) {
  // FORMAT.md fixes the gear table and masks; these lengths must never
  // change, or every existing store would stop deduplicating.
  Chunker c(ChunkerParams{});
  std::vector<size_t> lens = OneShot(c, RandomBytes(42, 4 << 20));
  ASSERT_GE(lens.size(), 4u);
  std::vector<size_t> first(lens.begin(), lens.begin() + 4);
  EXPECT_EQ(first, (std::vector<size_t>{272059, 277502, 295471, 411437}));
}

TEST(ChunkerTest, StreamingMatchesOneShotForAnyPieceSizes) {
  Chunker c(ChunkerParams{});
  std::string data = RandomBytes(2, 9 << 20) + std::string(3 << 20, 'z') + RandomBytes(3, 777777);
  std::vector<size_t> expected = OneShot(c, data);
  std::mt19937_64 rng(7);
  std::vector<size_t> random_pieces;
  for (int i = 0; i < 64; ++i) random_pieces.push_back(1 + rng() % (3 << 20));
  for (const std::vector<size_t>& pieces :
       std::vector<std::vector<size_t>>{{1 << 20}, {4096}, {1}, {65537}, {3 << 20}, {100 << 20}, random_pieces}) {
    if (pieces == std::vector<size_t>{1}) {
      std::string small = data.substr(0, 3 << 20);  // byte-at-a-time on a prefix
      EXPECT_EQ(Streamed(c, small, pieces), OneShot(c, small));
      continue;
    }
    EXPECT_EQ(Streamed(c, data, pieces), expected) << "first piece " << pieces[0];
  }
}

TEST(ChunkerTest, InsertionNearStartChangesOnlyNearbyChunks) {
  Chunker c(ChunkerParams{});
  std::string original = RandomBytes(5, 32 << 20);
  std::string edited = original;
  edited.insert(1000, RandomBytes(6, 100));
  auto a = ChunkIds(c, original);
  auto b = ChunkIds(c, edited);
  std::vector<ChunkId> changed;
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(changed));
  EXPECT_GE(a.size(), 64u);
  EXPECT_LE(changed.size(), 2u) << "of " << b.size() << " chunks";
}

TEST(ChunkerTest, EmptyInputHasNoChunks) {
  Chunker c(ChunkerParams{});
  EXPECT_TRUE(Streamed(c, "", {4096}).empty());
  EXPECT_EQ(Streamed(c, "abc", {4096}), std::vector<size_t>{3});
}

}  // namespace
}  // namespace ciuicfs
