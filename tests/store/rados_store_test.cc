// A store on RADOS (FORMAT.md, "A store on RADOS") against a throw-away
// one-node cluster (ceph_cluster.h): several Store objects with caches of
// their own play the nodes. Skipped, with the reason, where no cluster
// starts here or this build has no librados.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <map>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "store/cluster/lease.h"
#ifdef CIUICFS_HAVE_RADOS
#include "store/cluster/rados_leases.h"
#endif
#include "store/extent/extent_store.h"
#include "store/store.h"
#include "tests/store/ceph_cluster.h"
#include "tests/store/rados_fixture.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using testing::CommitFile;
using testing::RandomBytes;
using testing::ReadVersion;
using testing::TempDir;
using testing::VersionIn;

#ifdef CIUICFS_HAVE_RADOS

TEST_F(RadosStoreTest, ANodeWithAnEmptyCacheHasEveryCommitBitExact) {
  std::vector<std::string> saves;
  std::vector<Hash128> ids;
  {
    auto a = Node("a");
    ASSERT_TRUE(a && a->on_rados());
    std::string data = RandomBytes(1, 3 << 20);
    for (int k = 0; k < 3; ++k) {
      data.replace(size_t(k) << 20, 4096, RandomBytes(10 + k, 4096));  // a little changes each save
      saves.push_back(data);
      CommitFile(a.get(), "run/model.pt", data, k * 100);
    }
    ids = Ids(a.get());
  }  // node A goes; its cache is deleted
  std::system(("rm -rf " + tmp_.Sub("a")).c_str());
  auto b = Node("b");
  ASSERT_TRUE(b);
  ASSERT_EQ(Ids(b.get()), ids);  // the same chain, down to the snapshot ids
  auto snaps = b->ListSnapshots();
  ASSERT_TRUE(snaps.ok());
  for (size_t k = 0; k < saves.size(); ++k) {
    const VersionId v = VersionIn(b.get(), (*snaps)[k], "run/model.pt");
    EXPECT_EQ(ReadVersion(b.get(), v), saves[k]) << "save " << k;
    EXPECT_EQ((*snaps)[k].step, int64_t(k) * 100);
    ASSERT_EQ((*snaps)[k].changes.size(), 1u);
    EXPECT_EQ((*snaps)[k].changes[0].kind, ChangeKind::kPut);
  }
  // B continues the same chain.
  CommitFile(b.get(), "run/model.pt", RandomBytes(5, 1000), 300);
  auto verify = b->Verify();
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok());
  ids = Ids(b.get());
  b.reset();
  auto a = Node("a");  // a fresh cache again
  ASSERT_TRUE(a);
  EXPECT_EQ(Ids(a.get()), ids);
  EXPECT_EQ(ids.size(), 4u);
}

TEST_F(RadosStoreTest, TwoNodesCommittingAtOnceMakeOneChain) {
  auto a = Node("a"), b = Node("b");
  ASSERT_TRUE(a && b);
  constexpr int kEach = 12;
  auto saves = [](Store* s, const std::string& who) {
    for (int k = 0; k < kEach; ++k) {
      CommitFile(s, who + "/step_" + std::to_string(k) + ".pt", RandomBytes(uint64_t(k) * 7 + who.size(), 50000 + k));
      CommitFile(s, "shared/last.pt", who + std::to_string(k));  // both write one path
    }
  };
  std::thread ta(saves, a.get(), "a"), tb(saves, b.get(), "bb");
  ta.join();
  tb.join();
  ASSERT_TRUE(a->CatchUp().ok());
  ASSERT_TRUE(b->CatchUp().ok());
  const std::vector<Hash128> ids = Ids(a.get());
  EXPECT_EQ(ids.size(), size_t(4 * kEach));  // every save of both, once
  EXPECT_EQ(Ids(b.get()), ids);
  auto head = b->Head();
  ASSERT_TRUE(head.ok() && *head);
  for (int k = 0; k < kEach; ++k) {
    EXPECT_FALSE(VersionIn(b.get(), **head, "a/step_" + std::to_string(k) + ".pt").IsZero());
    EXPECT_FALSE(VersionIn(b.get(), **head, "bb/step_" + std::to_string(k) + ".pt").IsZero());
  }
  // The same path from two nodes: the later commit is the current version,
  // and both nodes' versions are in the chain.
  auto last = ReadVersion(a.get(), VersionIn(a.get(), **head, "shared/last.pt"));
  EXPECT_TRUE(last == "a" + std::to_string(kEach - 1) || last == "bb" + std::to_string(kEach - 1)) << last;
  auto history = a->PathHistory("shared/last.pt");
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), size_t(2 * kEach));
  for (Store* s : {a.get(), b.get()}) {
    auto v = s->Verify();
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(v->ok());
  }
}

TEST_F(RadosStoreTest, AnotherNodesCommitShowsWithoutAsking) {
  auto a = Node("a"), b = Node("b");
  ASSERT_TRUE(a && b);
  const Snapshot made = CommitFile(a.get(), "x.pt", "from a", 7);
  // B polls every 500 ms; the bound is loose for a loaded machine.
  const auto start = std::chrono::steady_clock::now();
  std::optional<Snapshot> seen;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
    auto head = b->Head();
    ASSERT_TRUE(head.ok());
    if (*head) {
      seen = **head;
      break;
    }
    usleep(20000);
  }
  ASSERT_TRUE(seen) << "B never saw A's commit";
  EXPECT_EQ(seen->id, made.id);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(RadosStoreTest, AKillAfterTheCommitObjectIsMadeLosesNothing) {
  {
    auto a = Node("a");
    ASSERT_TRUE(a);
    CommitFile(a.get(), "one.pt", "first");
  }
  const std::string second = RandomBytes(2, 700000);
  int status = testing::RunChild([&] {
    auto a = Node("a");
    if (!a) _exit(3);
    setenv("CIUICFS_CRASH_AT", "cluster.after_create", 1);
    CommitFile(a.get(), "two.pt", second);
    _exit(4);  // not reached: killed at the crash point
  });
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  ASSERT_EQ(WTERMSIG(status), SIGKILL);
  auto a = Node("a");  // its index never committed the second: caught up from RADOS
  ASSERT_TRUE(a);
  auto head = a->Head();
  ASSERT_TRUE(head.ok() && *head);
  EXPECT_EQ((*head)->seq, 2u);
  EXPECT_EQ(ReadVersion(a.get(), VersionIn(a.get(), **head, "two.pt")), second);
  auto fresh = Node("c");
  ASSERT_TRUE(fresh);
  EXPECT_EQ(Ids(fresh.get()), Ids(a.get()));
}

TEST_F(RadosStoreTest, AFileSavedThroughAnExtentNeedsNothingOfTheNode) {
  auto a = Node("a");
  ASSERT_TRUE(a);
  const std::string data = RandomBytes(3, 2 << 20);
  std::string extent_path;
  VersionId v;
  {
    auto w = a->NewExtent();
    ASSERT_TRUE(w.ok());
    ASSERT_EQ(pwrite((*w)->fd(), data.data(), data.size(), 0), ssize_t(data.size()));
    extent_path = (*w)->path();
    CommitRequest req;
    req.edits.push_back(TreeEdit::PutExtent("ckpt/model.pt", 0644, 1, (*w)->number(), data.size()));
    req.logged = true;  // as the mount commits
    auto snap = a->Commit(req);
    ASSERT_TRUE(snap.ok()) << snap.status().ToString();
    ASSERT_EQ(snap->changes.size(), 1u);
    v = snap->changes[0].version;
    EXPECT_EQ(v, Hash128::Of(data));  // ingested at the commit: a content id
  }
  EXPECT_NE(access(extent_path.c_str(), F_OK), 0) << "the extent outlived its writer";
  auto b = Node("b");
  ASSERT_TRUE(b);
  EXPECT_EQ(ReadVersion(b.get(), v), data);
}

TEST_F(RadosStoreTest, TagsBranchesAndPruneReachEveryNode) {
  auto a = Node("a");
  ASSERT_TRUE(a);
  const Snapshot s1 = CommitFile(a.get(), "x.pt", "one", 1);
  const Snapshot s2 = CommitFile(a.get(), "x.pt", "two", 2);
  CommitFile(a.get(), "x.pt", "three", 3);
  ASSERT_TRUE(a->SetTag("best", s1.seq).ok());
  ASSERT_TRUE(a->CreateBranch("exp", s1.seq).ok());
  CommitRequest on_exp;
  on_exp.branch = "exp";
  on_exp.edits.push_back(TreeEdit::PutDirectory("exp-only", 0755, 1));
  ASSERT_TRUE(a->Commit(on_exp).ok());
  ASSERT_TRUE(a->DropSnapshots({s2.seq}).ok());
  // Refused changes make no commit object: the next node's chain is the same.
  EXPECT_FALSE(a->SetTag("best", 999).ok());
  EXPECT_FALSE(a->DropSnapshots({s1.seq}).ok());  // tagged
  EXPECT_FALSE(a->DeleteBranch("main").ok());
  auto b = Node("b");
  ASSERT_TRUE(b);
  EXPECT_EQ(Ids(b.get()), Ids(a.get()));
  auto tags = b->Tags();
  ASSERT_TRUE(tags.ok());
  EXPECT_EQ(*tags, (std::map<std::string, uint64_t>{{"best", s1.seq}}));
  auto best = b->ResolveRef("best");
  ASSERT_TRUE(best.ok());
  EXPECT_EQ(ReadVersion(b.get(), VersionIn(b.get(), *best, "x.pt")), "one");
  EXPECT_TRUE(b->GetSnapshot(s2.seq).status().IsNotFound());
  auto branches = b->Branches();
  ASSERT_TRUE(branches.ok());
  ASSERT_TRUE(branches->count("exp"));
  auto exp_head = b->Head("exp");
  ASSERT_TRUE(exp_head.ok() && *exp_head);
  EXPECT_TRUE(b->LookupInTree((*exp_head)->tree, "exp-only")->has_value());
  // And back from B: A sees B's deletions.
  ASSERT_TRUE(b->DeleteTag("best").ok());
  ASSERT_TRUE(b->DeleteBranch("exp").ok());
  ASSERT_TRUE(a->CatchUp().ok());
  EXPECT_TRUE(a->Tags()->empty());
  EXPECT_FALSE(a->Branches()->count("exp"));
  EXPECT_EQ(Ids(a.get()), Ids(b.get()));
}

TEST_F(RadosStoreTest, ACacheHasOneWriterAtATime) {
  auto a = Node("a");
  ASSERT_TRUE(a);
  StoreOptions shared;
  shared.shared = true;  // as a mount opens it: still alone on a RADOS cache
  auto again = TryNode("a", shared);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Status::Code::kBusy) << again.status().ToString();
  EXPECT_NE(again.status().message().find("give another --cache"), std::string::npos) << again.status().message();
  StoreOptions read_only;
  read_only.read_only = true;  // a reader beside it is fine
  auto reader = Store::Open(tmp_.Sub("a"), read_only);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  CommitFile(a.get(), "x", "y");
  auto head = (*reader)->Head();
  ASSERT_TRUE(head.ok() && *head);
}

TEST_F(RadosStoreTest, CompactIsRefusedInOneLine) {
  auto a = Node("a");
  ASSERT_TRUE(a);
  const Snapshot s = CommitFile(a.get(), "x", "y");
  Status st = a->Reencode();
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.message().find("RADOS"), std::string::npos) << st.message();
  auto head = a->Head();
  ASSERT_TRUE(head.ok() && *head);
  EXPECT_EQ((*head)->seq, s.seq);
}

TEST_F(RadosStoreTest, BadPlacesAreOneLineErrors) {
  StoreOptions o;
  auto no_cache = Store::Open(Uri(), o);
  ASSERT_FALSE(no_cache.ok());
  EXPECT_NE(no_cache.status().message().find("--cache"), std::string::npos);
  {
    auto a = Node("a");
    ASSERT_TRUE(a);
  }
  // A cache belongs to one store.
  o.cache_dir = tmp_.Sub("a");
  o.ceph_conf = conf_;
  auto other = Store::Open(Uri() + "x", o);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("is the cache of " + Uri()), std::string::npos) << other.status().message();
  // A local store is not a cache.
  testing::OpenStore(tmp_.Sub("local"));
  o.cache_dir = tmp_.Sub("local");
  auto local = Store::Open(Uri(), o);
  ASSERT_FALSE(local.ok());
  EXPECT_NE(local.status().message().find("local store"), std::string::npos) << local.status().message();
  // A pool that does not exist.
  o.cache_dir = tmp_.Sub("p");
  auto pool = Store::Open("rados:nopool/x", o);
  ASSERT_FALSE(pool.ok());
  EXPECT_NE(pool.status().message().find("pool nopool"), std::string::npos) << pool.status().message();
  EXPECT_EQ(pool.status().message().find('\n'), std::string::npos);
  // The cache directory opens the store it names.
  auto again = Store::Open(tmp_.Sub("a"), {});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE((*again)->on_rados());
}
#else
TEST(RadosStoreTest, Skipped) { GTEST_SKIP() << "this build has no RADOS support (librados-dev, libradospp-dev)"; }
#endif

}  // namespace
}  // namespace ciuicfs
