// gc and leases on a store shared through RADOS (FORMAT.md, "Leases and
// gc on a shared store"), against a throw-away one-node cluster; skipped,
// with the reason, where no cluster starts here or this build has no
// librados.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "store/cluster/lease.h"
#ifdef CIUICFS_HAVE_RADOS
#include "store/cluster/rados_leases.h"
#endif
#include "store/store.h"
#include "tests/store/rados_fixture.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using testing::CommitFile;
using testing::ExpectVerifyClean;
using testing::RandomBytes;
using testing::ReadVersion;
using testing::TempDir;
using testing::VersionIn;

#ifdef CIUICFS_HAVE_RADOS
// gc on a shared store (FORMAT.md, "Leases and gc on a shared store"):
// node A saves old.pt, then replaces it with new.pt; node B starts a save
// of old.pt's bytes (its dedup takes A's chunks) and holds it unfinished;
// A prunes the snapshot that kept old.pt and runs gc.
class RadosGcTest : public RadosStoreTest {
 protected:
  static StoreOptions Fast() {
    StoreOptions o;
    o.lease_renew = std::chrono::milliseconds(100);
    o.lease_grace = std::chrono::milliseconds(3000);
    o.pack_target_size = 1 << 20;  // old.pt fills packs of its own
    return o;
  }
  void SaveAndReplace() {
    a_ = Node("a", Fast());
    b_ = Node("b", Fast());
    ASSERT_TRUE(a_ && b_);
    old_ = RandomBytes(1, 4 << 20);
    first_ = CommitFile(a_.get(), "old.pt", old_, 1);
    CommitRequest replace;
    replace.step = 2;
    replace.edits.push_back(TreeEdit::Remove("old.pt"));
    ASSERT_TRUE(a_->Commit(replace).ok());
    CommitFile(a_.get(), "new.pt", RandomBytes(2, 1 << 20), 3);
    ASSERT_TRUE(b_->CatchUp().ok());
    auto ingest = b_->NewIngest();
    ASSERT_TRUE(ingest->Append(old_.data(), old_.size()).ok());
    auto pv = ingest->Finish();
    ASSERT_TRUE(pv.ok()) << pv.status().ToString();
    EXPECT_EQ(pv->bytes_written(), 0u) << "B's save should have taken A's chunks";
    held_ = std::make_unique<PendingVersion>(std::move(pv.value()));
    ASSERT_TRUE(a_->DropSnapshots({first_.seq}).ok());  // old.pt's chunks: unreferenced now
    ASSERT_TRUE(a_->CatchUp().ok());
    ASSERT_TRUE(b_->CatchUp().ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // B's lease says so
  }
  std::unique_ptr<Store> a_, b_;
  std::string old_;
  Snapshot first_;
  std::unique_ptr<PendingVersion> held_;
};

TEST_F(RadosGcTest, GcWaitsForASaveInFlightOnAnotherNode) {
  SaveAndReplace();
  ASSERT_TRUE(held_);
  GcOptions o;
  o.wait = std::chrono::seconds(60);
  auto gc = std::async(std::launch::async, [&] { return a_->Gc(o); });
  // B's save holds chunks gc has as candidates: gc must not go on.
  EXPECT_EQ(gc.wait_for(std::chrono::milliseconds(1500)), std::future_status::timeout) << "gc went on past B's save";
  CommitRequest req;
  req.step = 4;
  req.edits.push_back(TreeEdit::PutFile("again.pt", 0644, 1, held_.get()));
  auto committed = b_->Commit(req);
  ASSERT_TRUE(committed.ok()) << committed.status().ToString();
  held_.reset();
  // And B drops it again before gc goes on: the chunks are unreferenced
  // once more, but a save may have taken them since gc found them.
  CommitRequest drop;
  drop.edits.push_back(TreeEdit::Remove("again.pt"));
  auto dropped = b_->Commit(drop);
  ASSERT_TRUE(dropped.ok()) << dropped.status().ToString();
  ASSERT_TRUE(b_->DropSnapshots({committed->seq}).ok());
  auto stats = gc.get();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->chunks_deleted, 0u) << "commits since gc found them named them again";
  auto later = a_->Gc({});  // the next gc finds them afresh and nothing holds them
  ASSERT_TRUE(later.ok()) << later.status().ToString();
  EXPECT_GT(later->chunks_deleted, 0u);
  for (Store* s : {a_.get(), b_.get()}) {
    ASSERT_TRUE(s->CatchUp().ok());
    auto snap = s->GetSnapshot(committed->seq + 1);  // B's commit removed again.pt; the one before is gone
    ASSERT_TRUE(snap.ok()) << snap.status().ToString();
    EXPECT_TRUE(ReadVersion(s, VersionIn(s, *snap, "new.pt")) == RandomBytes(2, 1 << 20)) << "new.pt differs";
    ExpectVerifyClean(s);
  }
}

TEST_F(RadosGcTest, GcGivesUpInOneLineWhileASaveHoldsAndCollectsOnceItIsGone) {
  SaveAndReplace();
  ASSERT_TRUE(held_);
  GcOptions brief;
  brief.wait = std::chrono::milliseconds(1000);
  auto refused = a_->Gc(brief);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kBusy) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("save in progress"), std::string::npos) << refused.status().message();
  EXPECT_NE(refused.status().message().find("pid " + std::to_string(getpid())), std::string::npos)
      << refused.status().message();
  held_.reset();  // B's save is abandoned: nothing holds old.pt's chunks now
  auto before = a_->Stats();
  ASSERT_TRUE(before.ok());
  auto stats = a_->Gc({});
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_GT(stats->chunks_deleted, 0u);
  EXPECT_GE(stats->packs_deleted, 1u) << "old.pt filled packs of its own";
  EXPECT_LT(stats->bytes_after, stats->bytes_before);
  auto after = a_->Stats();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->chunks, before->chunks - stats->chunks_deleted);
  // Every node, and one with an empty cache, applies the same collect.
  auto c = Node("c", Fast());
  ASSERT_TRUE(c);
  ASSERT_TRUE(b_->CatchUp().ok());
  for (Store* s : {a_.get(), b_.get(), c.get()}) {
    auto st = s->Stats();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->chunks, after->chunks);
    EXPECT_EQ(st->live_bytes, after->live_bytes);
    auto head = s->Head();
    ASSERT_TRUE(head.ok() && *head);
    EXPECT_TRUE(ReadVersion(s, VersionIn(s, **head, "new.pt")) == RandomBytes(2, 1 << 20)) << "new.pt differs";
    ExpectVerifyClean(s);
  }
  // The chunks went: saving old.pt's bytes again stores them afresh.
  const Snapshot again = CommitFile(b_.get(), "old.pt", old_, 5);
  ASSERT_TRUE(a_->CatchUp().ok());
  EXPECT_TRUE(ReadVersion(a_.get(), VersionIn(a_.get(), again, "old.pt")) == old_) << "old.pt saved again differs";
  ExpectVerifyClean(a_.get());
}

TEST_F(RadosGcTest, GcLeavesThePackAnotherNodeAppendsTo) {
  a_ = Node("a", Fast());
  b_ = Node("b", Fast());
  ASSERT_TRUE(a_ && b_);
  // B's first save opens B's pack P; A drops it, so all P holds is a
  // candidate for gc.
  const Snapshot first = CommitFile(b_.get(), "first.pt", RandomBytes(10, 300000), 1);
  CommitRequest remove;
  remove.edits.push_back(TreeEdit::Remove("first.pt"));
  ASSERT_TRUE(b_->Commit(remove).ok());
  ASSERT_TRUE(a_->CatchUp().ok());
  ASSERT_TRUE(a_->DropSnapshots({first.seq}).ok());
  ASSERT_TRUE(b_->CatchUp().ok());
  GcOptions o;
  o.wait = std::chrono::seconds(60);
  auto gc = std::async(std::launch::async, [&] { return a_->Gc(o); });
  // Meanwhile B's next save appends fresh records to P: it started after
  // gc's candidates, so gc need not wait for it, but must leave P whole.
  const std::string pending = RandomBytes(11, 300000);
  auto ingest = b_->NewIngest();
  ASSERT_TRUE(ingest->Append(pending.data(), pending.size()).ok());
  auto pv = ingest->Finish();
  ASSERT_TRUE(pv.ok()) << pv.status().ToString();
  EXPECT_GT(pv->bytes_written(), 0u);
  auto stats = gc.get();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_GT(stats->chunks_deleted, 0u) << "first.pt's chunks should have gone";
  CommitRequest put;
  put.edits.push_back(TreeEdit::PutFile("pending.pt", 0644, 1, &*pv));
  auto committed = b_->Commit(put);
  ASSERT_TRUE(committed.ok()) << committed.status().ToString();
  auto c = Node("c", Fast());  // an empty cache: everything from RADOS
  ASSERT_TRUE(c);
  for (Store* s : {a_.get(), b_.get(), c.get()}) {
    ASSERT_TRUE(s->CatchUp().ok());
    EXPECT_TRUE(ReadVersion(s, VersionIn(s, *committed, "pending.pt")) == pending) << "pending.pt differs";
    ExpectVerifyClean(s);
  }
}

TEST_F(RadosGcTest, ASaveHeldThroughALapsedLeaseFailsAndTheNextGoesOn) {
  const pid_t osd = testing::CephCluster::Get().OsdPid();
  ASSERT_GT(osd, 0) << "no OSD pid in " << testing::CephCluster::Get().dir;
  a_ = Node("a", Fast());
  ASSERT_TRUE(a_);
  CommitFile(a_.get(), "first.pt", RandomBytes(3, 200000), 1);
  auto ingest = a_->NewIngest();
  const std::string held = RandomBytes(4, 300000);
  ASSERT_TRUE(ingest->Append(held.data(), held.size()).ok());
  auto pv = ingest->Finish();
  ASSERT_TRUE(pv.ok()) << pv.status().ToString();
  // No lease write gets through for longer than half the grace (1.5 s).
  {
    testing::StoppedOsd stopped(osd);
    ASSERT_TRUE(stopped.stopped());
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // renewed again since
  CommitRequest req;
  req.edits.push_back(TreeEdit::PutFile("held.pt", 0644, 1, &*pv));
  auto through = a_->Commit(req);
  ASSERT_FALSE(through.ok()) << "a save held through a lapse of the lease was committed";
  EXPECT_NE(through.status().message().find("while the save was in progress"), std::string::npos)
      << through.status().message();
  { PendingVersion failed = std::move(pv.value()); }  // the failed save lets go
  // The next save goes on, and nothing is damaged.
  const Snapshot next = CommitFile(a_.get(), "held.pt", held, 2);
  EXPECT_TRUE(ReadVersion(a_.get(), VersionIn(a_.get(), next, "held.pt")) == held);
  ExpectVerifyClean(a_.get());
}

TEST_F(RadosGcTest, ADeadNodesLeaseHoldsGcOnlyForTheGrace) {
  SaveAndReplace();
  held_.reset();
  // A node that died with a save in flight: its lease holds everything and
  // is never renewed.
  auto conn = RadosConnection::Connect(RadosTarget{testing::CephCluster::kPool, name_, conf_, "admin"});
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  RadosLeases leases(*conn);
  Lease dead;
  dead.node = 0x1234;
  dead.renewal = 7;
  dead.applied = 0;
  dead.holds_from = 0;
  dead.host = "gone";
  dead.pid = 1;
  ASSERT_TRUE(leases.Put(dead.node, EncodeLease(dead)).ok());
  const auto start = std::chrono::steady_clock::now();
  auto stats = a_->Gc({});
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_GE(std::chrono::steady_clock::now() - start, Fast().lease_grace) << "gc went on before the grace";
  EXPECT_GT(stats->chunks_deleted, 0u);
  auto table = leases.List();
  ASSERT_TRUE(table.ok());
  EXPECT_FALSE(table->count(dead.node)) << "the dead node's lease should be gone";
  EXPECT_EQ(table->size(), 2u) << "A's and B's leases stay";
  ExpectVerifyClean(a_.get());
}
#else
TEST(RadosGcTest, Skipped) { GTEST_SKIP() << "this build has no RADOS support (librados-dev, libradospp-dev)"; }
#endif

}  // namespace
}  // namespace ciuicfs
