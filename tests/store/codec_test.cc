#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "store/encode/codec.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

// fp32 values as a trainer's tensors hold them, and the same after one
// small optimizer step.
std::string Floats(uint64_t seed, size_t count, float scale = 0.02f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::string out(count * 4, '\0');
  for (size_t i = 0; i < count; ++i) {
    float f = d(rng);
    std::memcpy(out.data() + 4 * i, &f, 4);
  }
  return out;
}

std::string Step(const std::string& before, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 1e-4f);
  std::string out = before;
  for (size_t i = 0; i + 4 <= out.size(); i += 4) {
    float f;
    std::memcpy(&f, out.data() + i, 4);
    f += d(rng);
    std::memcpy(out.data() + i, &f, 4);
  }
  return out;
}

Result<std::shared_ptr<const std::string>> NoBases(const ChunkId&) { return Status::Corruption("no bases here"); }

TEST(CodecTest, GroupingRoundTripsForEveryWidthPhaseAndLength) {
  for (unsigned width : {1u, 2u, 4u})
    for (unsigned phase = 0; phase < width; ++phase)
      for (size_t n : {0, 1, 3, 4, 5, 1000, 4099}) {
        std::string in = RandomBytes(n * 7 + width + phase, n), grouped, back;
        GroupBytes(in, width, phase, &grouped);
        UngroupBytes(grouped, width, phase, &back);
        EXPECT_EQ(back, in) << width << "/" << phase << "/" << n;
      }
  // Plane 0 holds the bytes at positions where (i + phase) % width == 0.
  std::string grouped;
  GroupBytes("abcdefgh", 4, 1, &grouped);
  EXPECT_EQ(grouped, "dhaebfcg");
}

TEST(CodecTest, ZstdPayloadRoundTripsAndShrinksFloats) {
  std::string raw = Floats(1, 65536);
  for (unsigned width : {1u, 2u, 4u}) {
    std::string payload = EncodePayload(Encoding::kZstd, raw, width, 0, {}, {});
    std::string back;
    ASSERT_TRUE(DecodePayload(Encoding::kZstd, payload, raw.size(), NoBases, &back).ok());
    EXPECT_EQ(back, raw);
  }
  Choice c = ChooseEncoding(raw, 0, {}, {});
  EXPECT_EQ(c.encoding, Encoding::kZstd);
  EXPECT_LT(c.payload.size(), raw.size() * 95 / 100);
  auto info = ParsePayload(Encoding::kZstd, c.payload);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->width, 4u) << "fp32 groups best by four";
  // Random bytes do not compress: they stay raw.
  EXPECT_EQ(ChooseEncoding(RandomBytes(5, 200000), 0, {}, {}).encoding, Encoding::kRaw);
}

TEST(CodecTest, DeltaRoundTripsWithBasesThatOverlapPartly) {
  // The previous version of a file, cut elsewhere: two bases, one starting
  // before this chunk, one ending past it, and a gap with no base at all.
  std::string prev = Floats(2, 80000);
  std::string now = Step(prev, 3);
  const size_t from = 40000, to = 240000;
  std::string raw = now.substr(from, to - from);
  std::vector<DeltaBase> bases = {{Hash128::Of(prev.substr(0, 100000)), -40000},
                                  {Hash128::Of(prev.substr(120000, 200000)), 80000}};
  std::vector<std::string> bytes = {prev.substr(0, 100000), prev.substr(120000, 200000)};
  std::string base = LayOutBase(raw.size(), bases, bytes);
  ASSERT_EQ(base.size(), raw.size());
  EXPECT_EQ(base.substr(0, 60000), prev.substr(40000, 60000));
  EXPECT_EQ(base.substr(60000, 20000), std::string(20000, '\0'));
  EXPECT_EQ(base.substr(80000), prev.substr(120000, 120000));
  Choice c = ChooseEncoding(raw, from, bases, base);
  ASSERT_TRUE(IsDelta(c.encoding)) << int(c.encoding);
  Choice alone = ChooseEncoding(raw, from, {}, {});
  EXPECT_LT(c.payload.size(), alone.payload.size()) << "a delta against the last step pays";
  auto info = ParsePayload(c.encoding, c.payload);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->bases, bases);
  std::string back;
  auto read_base = [&](const ChunkId& id) -> Result<std::shared_ptr<const std::string>> {
    for (size_t k = 0; k < bases.size(); ++k)
      if (bases[k].id == id) return std::make_shared<const std::string>(bytes[k]);
    return Status::Corruption("unknown base");
  };
  ASSERT_TRUE(DecodePayload(c.encoding, c.payload, raw.size(), read_base, &back).ok());
  EXPECT_EQ(back, raw);
  // A base that reads differently decodes to different bytes (the caller's
  // id check turns that into EIO).
  bytes[1][5] ^= 1;
  ASSERT_TRUE(DecodePayload(c.encoding, c.payload, raw.size(), read_base, &back).ok());
  EXPECT_NE(back, raw);
}

TEST(CodecTest, DifferenceDeltaRoundTripsAtEveryWidthPhaseAndLength) {
  // Encoding 4 on bytes that are no floats at all (every difference wraps
  // somewhere), and on a chunk shorter than one element.
  const std::string raw_all = RandomBytes(7, 4099), base_all = RandomBytes(8, 4099);
  std::vector<DeltaBase> bases = {{Hash128::Of(base_all), 0}};
  auto read_base = [&](const ChunkId&) -> Result<std::shared_ptr<const std::string>> {
    return std::make_shared<const std::string>(base_all);
  };
  for (unsigned width : {2u, 4u})
    for (unsigned phase = 0; phase < width; ++phase)
      for (size_t n : {size_t(1), size_t(3), size_t(4096), size_t(4099)}) {
        std::string raw = raw_all.substr(0, n);
        std::string payload = EncodePayload(Encoding::kDiffDeltaZstd, raw, width, phase, bases, base_all.substr(0, n));
        std::string back;
        ASSERT_TRUE(DecodePayload(Encoding::kDiffDeltaZstd, payload, n, read_base, &back).ok());
        EXPECT_EQ(back, raw) << "width " << width << " phase " << phase << " length " << n;
      }
  // Small steps of floats: the difference pays more than the XOR.
  std::string prev = Floats(9, 50000), now = Step(prev, 10);
  std::vector<DeltaBase> b = {{Hash128::Of(prev), 0}};
  std::string diff = EncodePayload(Encoding::kDiffDeltaZstd, now, 4, 0, b, prev);
  std::string xored = EncodePayload(Encoding::kXorDeltaZstd, now, 4, 0, b, prev);
  EXPECT_LT(diff.size(), xored.size());
  EXPECT_FALSE(ParsePayload(Encoding::kDiffDeltaZstd, EncodePayload(Encoding::kDiffDeltaZstd, now, 1, 0, b, prev)).ok())
      << "width 1 has no words to difference";
}

TEST(CodecTest, BasesThatOverlapEachOtherDecodeAsLaidOut) {
  // A base and the keyframe bases of a neighbouring delta can cover the
  // same file bytes: the later base lies over the earlier (FORMAT.md), on
  // encode and decode alike, also when one decoder is used twice in a row.
  std::string prev = Floats(4, 60000);
  std::string now = Step(prev, 5);
  std::string raw = now.substr(0, 200000);
  std::string stale = Floats(6, 30000);  // covered by the second base where they overlap
  std::vector<DeltaBase> bases = {{Hash128::Of(stale), 50000}, {Hash128::Of(prev.substr(0, 200000)), 0}};
  std::vector<std::string> bytes = {stale, prev.substr(0, 200000)};
  std::string base = LayOutBase(raw.size(), bases, bytes);
  EXPECT_EQ(base, prev.substr(0, 200000)) << "the later base wins where both lie";
  Choice c = ChooseEncoding(raw, 0, bases, base);
  ASSERT_TRUE(IsDelta(c.encoding)) << int(c.encoding);
  auto read_base = [&](const ChunkId& id) -> Result<std::shared_ptr<const std::string>> {
    for (size_t k = 0; k < bases.size(); ++k)
      if (bases[k].id == id) return std::make_shared<const std::string>(bytes[k]);
    return Status::Corruption("unknown base");
  };
  for (int round = 0; round < 2; ++round) {
    std::string back;
    ASSERT_TRUE(DecodePayload(c.encoding, c.payload, raw.size(), read_base, &back).ok());
    EXPECT_EQ(back, raw) << "round " << round;
  }
}

TEST(CodecTest, DamagedPayloadsAreErrorsOrDifferentBytes) {
  std::string raw = Floats(4, 50000);
  Choice c = ChooseEncoding(raw, 0, {}, {});
  ASSERT_EQ(c.encoding, Encoding::kZstd);
  for (size_t at : {size_t(0), size_t(1), size_t(5), c.payload.size() / 2, c.payload.size() - 1}) {
    std::string bad = c.payload;
    bad[at] ^= 0x10;
    std::string back;
    Status s = DecodePayload(c.encoding, bad, raw.size(), NoBases, &back);
    EXPECT_TRUE(!s.ok() || back != raw) << "flip at " << at;
  }
  std::string back;
  EXPECT_FALSE(DecodePayload(c.encoding, c.payload.substr(0, 1), raw.size(), NoBases, &back).ok());
  EXPECT_FALSE(DecodePayload(c.encoding, c.payload, raw.size() + 1, NoBases, &back).ok());
  EXPECT_FALSE(ParsePayload(Encoding::kXorDeltaZstd, std::string("\x04\x00\x00", 3)).ok()) << "no bases";
}

}  // namespace
}  // namespace ciuicfs
