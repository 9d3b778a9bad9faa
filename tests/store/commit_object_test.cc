// Commit objects without a cluster (cluster/commit_object.h): each kind
// encodes and decodes to itself, and damaged bytes are refused.
#include <gtest/gtest.h>

#include "store/cluster/commit_object.h"

namespace ciuicfs {
namespace {

ChunkId Id(uint8_t b) {
  uint8_t bytes[16] = {};
  for (int i = 0; i < 16; ++i) bytes[i] = uint8_t(b + i);
  return Hash128::FromBytes(reinterpret_cast<const char*>(bytes));
}

void ExpectRefusesDamage(const std::string& bytes) {
  CommitObject back;
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] ^= 0x01;
    EXPECT_FALSE(DecodeCommitObject(bad, &back)) << "byte " << i << " of " << bytes.size();
  }
  EXPECT_FALSE(DecodeCommitObject(bytes.substr(0, bytes.size() - 1), &back));
  EXPECT_FALSE(DecodeCommitObject(bytes + "x", &back));
}

TEST(CommitObjectTest, ACollectRoundTrips) {
  CommitObject c;
  c.kind = CommitObject::Kind::kCollect;
  c.number = 77;
  c.collect.checked_at = 70;
  c.collect.chunks = {Id(1), Id(40), Id(200)};
  c.collect.packs = {3, 9};
  const std::string bytes = EncodeCommitObject(c);
  CommitObject back;
  ASSERT_TRUE(DecodeCommitObject(bytes, &back));
  EXPECT_EQ(back.kind, CommitObject::Kind::kCollect);
  EXPECT_EQ(back.number, 77u);
  EXPECT_EQ(back.collect.checked_at, 70u);
  EXPECT_EQ(back.collect.chunks, c.collect.chunks);
  EXPECT_EQ(back.collect.packs, c.collect.packs);
  ExpectRefusesDamage(bytes);
}

TEST(CommitObjectTest, ARefChangeRoundTrips) {
  CommitObject c;
  c.kind = CommitObject::Kind::kRefs;
  c.number = 5;
  c.change.op = RefChange::Op::kDropSnapshots;
  c.change.seqs = {1, 2, 4};
  const std::string bytes = EncodeCommitObject(c);
  CommitObject back;
  ASSERT_TRUE(DecodeCommitObject(bytes, &back));
  EXPECT_EQ(back.kind, CommitObject::Kind::kRefs);
  EXPECT_EQ(back.change.op, RefChange::Op::kDropSnapshots);
  EXPECT_EQ(back.change.seqs, c.change.seqs);
  ExpectRefusesDamage(bytes);
}

}  // namespace
}  // namespace ciuicfs
