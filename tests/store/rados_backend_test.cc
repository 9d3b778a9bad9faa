// The RADOS pack backend against a throw-away one-node cluster
// (ceph_cluster.h); skipped, with the reason, where no cluster can
// start here or this build has no RADOS backend.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "store/pack/pack_store.h"
#include "tests/store/backend_contract.h"
#include "tests/store/ceph_cluster.h"
#include "tests/store/test_util.h"
#ifdef CIUICFS_HAVE_RADOS
#include "store/pack/rados_backend.h"
#endif

namespace ciuicfs {
namespace {

using testing::RandomBytes;
using testing::TempDir;

#ifdef CIUICFS_HAVE_RADOS
class RadosBackendTest : public ::testing::Test {
 protected:
  static constexpr const char* kPool = "ciuicfs";

  void SetUp() override {
    const testing::CephCluster& c = testing::CephCluster::Get();
    if (!c.skip.empty()) GTEST_SKIP() << c.skip;
    conf_ = c.conf;
  }
  // A backend for a store of its own name in the pool.
  std::unique_ptr<RadosPackBackend> Backend(const std::string& name, size_t max_write = RadosPackBackend::kMaxWrite) {
    auto b = RadosPackBackend::Connect({kPool, name, conf_}, max_write);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? std::move(b.value()) : nullptr;
  }

  std::string conf_;
};

TEST_F(RadosBackendTest, KeepsTheContract) {
  auto b = Backend("contract");
  ASSERT_TRUE(b);
  testing::ExpectBackendContract(*b, "rados:ciuicfs/contract.pack.00000003");
}

TEST_F(RadosBackendTest, StoresOfOtherNamesInThePoolAreNotListed) {
  auto a = Backend("one"), b = Backend("two");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->Create(1).ok());
  ASSERT_TRUE(b->Create(2).ok());
  EXPECT_EQ(*a->List(), std::vector<uint32_t>{1});
  EXPECT_EQ(*b->List(), std::vector<uint32_t>{2});
}

TEST_F(RadosBackendTest, AnAppendLargerThanOneWriteGoesInPiecesAndReadsBack) {
  auto b = Backend("pieces", 4096);  // the limit on one RADOS write, made small
  ASSERT_TRUE(b);
  ASSERT_TRUE(b->Create(1).ok());
  std::string x = RandomBytes(1, 10000), y = RandomBytes(2, 5000);
  struct iovec iov[2] = {{x.data(), x.size()}, {y.data(), y.size()}};
  ASSERT_TRUE(b->Append(1, 0, iov, 2).ok());
  EXPECT_EQ(*b->Size(1), 15000u);
  std::string out(15000, '\0');
  ASSERT_TRUE(b->ReadAt(1, 0, out.data(), out.size()).ok());
  EXPECT_EQ(out, x + y);
}

TEST_F(RadosBackendTest, PackRecordsReadBackVerified) {
  auto b = Backend("records");
  ASSERT_TRUE(b);
  PackStore packs(b.get(), 1, 1 << 20);
  std::vector<std::string> chunks;
  std::vector<PackLocation> at;
  for (int k = 0; k < 6; ++k) {  // rolls over to a second pack
    chunks.push_back(RandomBytes(10 + k, 300000));
    auto loc = packs.Append(Hash128::Of(chunks.back()), reinterpret_cast<const uint8_t*>(chunks.back().data()),
                            chunks.back().size());
    ASSERT_TRUE(loc.ok()) << loc.status().ToString();
    at.push_back(*loc);
  }
  EXPECT_GT(at.back().pack, at.front().pack);
  for (size_t k = 0; k < chunks.size(); ++k) {
    std::string out;
    ASSERT_TRUE(packs.Read(Hash128::Of(chunks[k]), at[k], &out).ok());
    EXPECT_EQ(out, chunks[k]);
  }
  // A byte changed in the object is EIO at the read, never other bytes.
  std::string flipped(1, char(chunks[2][100] ^ 1));
  struct iovec iov = {flipped.data(), 1};
  const uint64_t where = at[2].offset + kRecordHeaderSize + 100;
  // Append writes at the offset it is given: here, inside the record.
  ASSERT_TRUE(b->Append(at[2].pack, where, &iov, 1).ok());
  std::string out;
  Status s = packs.Read(Hash128::Of(chunks[2]), at[2], &out);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_TRUE(out.empty());
}

TEST_F(RadosBackendTest, BadPoolOrConfigurationIsOneClearError) {
  auto pool = RadosPackBackend::Connect({"no-such-pool", "x", conf_});
  ASSERT_FALSE(pool.ok());
  EXPECT_NE(pool.status().message().find("pool no-such-pool"), std::string::npos) << pool.status().message();
  auto conf = RadosPackBackend::Connect({kPool, "x", "/nonexistent/ceph.conf"});
  ASSERT_FALSE(conf.ok());
  EXPECT_NE(conf.status().message().find("/nonexistent/ceph.conf"), std::string::npos) << conf.status().message();
  EXPECT_EQ(conf.status().message().find('\n'), std::string::npos);
}

TEST_F(RadosBackendTest, AnOperationThatTimedOutLeavesItsClientForAFreshOne) {
  const pid_t osd = testing::CephCluster::Get().OsdPid();
  ASSERT_GT(osd, 0) << "no OSD pid in " << testing::CephCluster::Get().dir;
  RadosTarget target{kPool, "timeout", conf_};
  target.op_timeout_s = 2;
  auto conn = RadosConnection::Connect(target);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  RadosPackBackend b(*conn);
  ASSERT_TRUE(b.Create(1).ok());
  const std::string bytes = RandomBytes(5, 4096);
  struct iovec iov = {const_cast<char*>(bytes.data()), bytes.size()};
  {
    testing::StoppedOsd stopped(osd);
    ASSERT_TRUE(stopped.stopped());
    const auto start = std::chrono::steady_clock::now();
    Status s = b.Append(1, 0, &iov, 1);
    ASSERT_FALSE(s.ok()) << "an append went through while the OSD was stopped";
    EXPECT_NE(s.message().find("timed out"), std::string::npos) << s.message();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
    EXPECT_EQ((*conn)->clients(), 2u) << "the client whose operation timed out is still in use";
  }
  // The OSD is back: the fresh client is served, and the object is as the
  // timed-out write left it (applied late, or not at all).
  auto size = b.Size(1);
  for (int i = 0; i < 60 && !size.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    size = b.Size(1);
  }
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  ASSERT_TRUE(*size == 0 || *size == bytes.size()) << *size;
  ASSERT_TRUE(b.Append(1, *size, &iov, 1).ok());
  std::string back(bytes.size(), '\0');
  ASSERT_TRUE(b.ReadAt(1, *size, back.data(), back.size()).ok());
  EXPECT_EQ(back, bytes);
  EXPECT_EQ((*conn)->clients(), 2u);
}
TEST_F(RadosBackendTest, SyncingWhatWasAppendedNeedsNoOsdAndAFailedSyncIsNotFinal) {
  // An fsync through a mount while the OSD is away must not stop the
  // store's writes for good: RADOS acknowledged each append once durable.
  RadosTarget target{kPool, "durable", conf_};
  target.op_timeout_s = 2;
  auto conn = RadosConnection::Connect(target);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  RadosPackBackend b(*conn);
  ASSERT_TRUE(b.AppendsAreDurable());
  PackStore writer(&b, 1, 1 << 20), other(&b, 100, 1 << 20);
  const std::string one = RandomBytes(21, 100000), two = RandomBytes(22, 100000);
  auto loc = writer.Append(Hash128::Of(one), reinterpret_cast<const uint8_t*>(one.data()), one.size());
  ASSERT_TRUE(loc.ok()) << loc.status().ToString();
  const pid_t osd = testing::CephCluster::Get().OsdPid();
  ASSERT_GT(osd, 0);
  {
    testing::StoppedOsd stopped(osd);
    ASSERT_TRUE(stopped.stopped());
    std::map<uint32_t, uint64_t> synced;
    ASSERT_TRUE(writer.SyncAll(&synced).ok());
    EXPECT_EQ(synced[loc->pack], loc->end());
    // Another process's pack needs the cluster: that sync fails...
    EXPECT_FALSE(other.SyncPacks({loc->pack}, nullptr).ok());
  }
  // ...and is not final: once the OSD is back it succeeds, and both write on.
  std::map<uint32_t, uint64_t> synced;
  Status s = other.SyncPacks({loc->pack}, &synced);
  for (int i = 0; i < 60 && !s.ok(); ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    s = other.SyncPacks({loc->pack}, &synced);
  }
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(synced[loc->pack], loc->end());
  EXPECT_TRUE(writer.failed().ok());
  ASSERT_TRUE(writer.Append(Hash128::Of(two), reinterpret_cast<const uint8_t*>(two.data()), two.size()).ok());
  ASSERT_TRUE(other.Append(Hash128::Of(two), reinterpret_cast<const uint8_t*>(two.data()), two.size()).ok());
}

#else
TEST(RadosBackendTest, Skipped) { GTEST_SKIP() << "this build has no RADOS backend (librados-dev, libradospp-dev)"; }
#endif

}  // namespace
}  // namespace ciuicfs
