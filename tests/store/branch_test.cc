// Branches (store/FORMAT.md, `branches`, `parents`): named heads over one
// chain that is a graph; each branch's line, step look-ups and refs follow
// its own history; heads cannot be dropped; deleting a branch and pruning
// what only it held gives the bytes back to gc.
#include <gtest/gtest.h>

#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

Snapshot CommitOn(Store* store, const std::string& branch, const std::string& path, const std::string& data,
                  int64_t step) {
  PendingVersion v = Ingest(store, data);
  CommitRequest req;
  req.branch = branch;
  req.step = step;
  req.edits.push_back(TreeEdit::PutFile(path, 0644, step, &v));
  auto s = store->Commit(req);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : Snapshot{};
}

std::vector<int64_t> Steps(const std::vector<Snapshot>& snaps) {
  std::vector<int64_t> out;
  for (const Snapshot& s : snaps) out.push_back(s.step);
  return out;
}

TEST(BranchTest, ABranchForksTheChainAndEachLineFollowsItsOwnHistory) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  auto store = OpenStore(path);
  auto fresh = store->Branches();
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(*fresh, (std::map<std::string, uint64_t>{{"main", 0}}));
  std::vector<Snapshot> main;
  for (int step = 1; step <= 4; ++step)
    main.push_back(CommitOn(store.get(), "main", "model.pt", RandomBytes(step, 200 << 10), step));
  const uint64_t stored_before = store->Stats()->stored_bytes;

  ASSERT_TRUE(store->CreateBranch("lr-half", main[1].seq).ok());  // at step 2
  EXPECT_EQ(store->Stats()->stored_bytes, stored_before);         // copies nothing
  Snapshot b3 = CommitOn(store.get(), "lr-half", "model.pt", RandomBytes(103, 200 << 10), 3);
  Snapshot b4 = CommitOn(store.get(), "lr-half", "model.pt", RandomBytes(104, 200 << 10), 4);
  EXPECT_EQ(b3.parent, main[1].id);
  EXPECT_EQ(b3.seq, 5u);  // sequences are one counter over every branch
  EXPECT_EQ(b4.parent, b3.id);
  EXPECT_EQ((*store->Head())->seq, main[3].seq);  // main did not move
  EXPECT_EQ((*store->Head("lr-half"))->seq, b4.seq);

  EXPECT_EQ(Steps(*store->BranchLine("main")), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(Steps(*store->BranchLine("lr-half")), (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(store->BranchLine("lr-half")->at(2).seq, b3.seq);
  EXPECT_EQ(store->ListSnapshots()->size(), 6u);
  // Steps and refs are per branch.
  EXPECT_EQ(store->FindByStep(3)->seq, main[2].seq);
  EXPECT_EQ(store->FindByStep(3, "lr-half")->seq, b3.seq);
  EXPECT_EQ(store->FindByStep(1, "lr-half")->seq, main[0].seq);
  EXPECT_EQ(store->ResolveRef("latest", "lr-half")->seq, b4.seq);
  EXPECT_EQ(store->ResolveRef("latest~2", "lr-half")->seq, main[1].seq);
  EXPECT_EQ(store->ResolveRef("step-4")->seq, main[3].seq);
  EXPECT_EQ(store->ResolveRef("lr-half")->seq, b4.seq);
  EXPECT_EQ(store->ResolveRef("main", "lr-half")->seq, main[3].seq);
  EXPECT_NE(VersionIn(store.get(), b4, "model.pt"), VersionIn(store.get(), main[3], "model.pt"));

  // A branch head cannot be dropped; a shared snapshot can, and both lines
  // step over it.
  Status head = store->DropSnapshots({b4.seq});
  EXPECT_EQ(head.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(head.message().find("lr-half"), std::string::npos) << head.message();
  ASSERT_TRUE(store->DropSnapshots({main[0].seq}).ok());
  EXPECT_EQ(Steps(*store->BranchLine("lr-half")), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(Steps(*store->BranchLine("main")), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_TRUE(store->FindByStep(1, "lr-half").status().IsNotFound());

  // After a reopen, all of it holds.
  store.reset();
  store = OpenStore(path);
  EXPECT_EQ(*store->Branches(), (std::map<std::string, uint64_t>{{"lr-half", b4.seq}, {"main", main[3].seq}}));
  EXPECT_EQ(store->BranchLine("lr-half")->back().seq, b4.seq);
  EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), b4, "model.pt")), RandomBytes(104, 200 << 10));
  auto report = store->Verify();
  ASSERT_TRUE(report.ok());
  for (const std::string& p : report->problems) ADD_FAILURE() << p;

  // Deleting the branch and pruning what only it held frees its bytes (the
  // record bytes the index points at: the one pack is the active one, which
  // compaction leaves alone).
  ASSERT_TRUE(store->Gc({}).ok());
  const uint64_t with_branch = store->Stats()->live_bytes;
  ASSERT_TRUE(store->DeleteBranch("lr-half").ok());  // drops b3 and b4, which only it reached
  EXPECT_EQ(store->ListSnapshots()->size(), 3u);
  EXPECT_TRUE(store->GetSnapshot(b3.seq).status().IsNotFound());
  auto gc = store->Gc({});
  ASSERT_TRUE(gc.ok());
  const uint64_t without = store->Stats()->live_bytes;
  EXPECT_LT(without, with_branch - (350u << 10)) << with_branch << " -> " << without;
  EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), main[3], "model.pt")), RandomBytes(4, 200 << 10));
  report = store->Verify();
  ASSERT_TRUE(report.ok());
  for (const std::string& p : report->problems) ADD_FAILURE() << p;
}

TEST(BranchTest, BadBranchOperationsChangeNothing) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  EXPECT_FALSE(store->CreateBranch("b", 1).ok());  // no snapshot 1 yet
  Snapshot s = CommitOn(store.get(), "main", "f", "x", 1);
  ASSERT_TRUE(store->CreateBranch("exp", s.seq).ok());
  for (const std::string& bad : {std::string(""), std::string("a/b"), std::string(".."), std::string("a..b"),
                                 std::string("@x"), std::string(".hidden"), std::string("-x"), std::string(65, 'a')}) {
    Status st = store->CreateBranch(bad, s.seq);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << "'" << bad << "': " << st.ToString();
  }
  EXPECT_EQ(store->CreateBranch("exp", s.seq).code(), Status::Code::kInvalidArgument);  // exists
  EXPECT_EQ(store->CreateBranch("main", s.seq).code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(store->CreateBranch("other", 999).IsNotFound());
  EXPECT_EQ(store->DeleteBranch("main").code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(store->DeleteBranch("nope").IsNotFound());
  EXPECT_EQ(*store->Branches(), (std::map<std::string, uint64_t>{{"exp", s.seq}, {"main", s.seq}}));
  // A commit on a branch that does not exist fails and stores nothing.
  PendingVersion v = Ingest(store.get(), "y");
  CommitRequest req;
  req.branch = "nope";
  req.edits.push_back(TreeEdit::PutFile("g", 0644, 1, &v));
  EXPECT_TRUE(store->Commit(req).status().IsNotFound());
  EXPECT_EQ(store->ListSnapshots()->size(), 1u);
}

// A deleted branch's tagged snapshot stays (tags pin), but off main's
// line: main's latest, steps and line never include it.
TEST(BranchTest, ADeletedBranchsTaggedSnapshotIsNotOnMainsLine) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  Snapshot m1 = CommitOn(store.get(), "main", "f", "1", 1);
  Snapshot m2 = CommitOn(store.get(), "main", "f", "2", 2);
  ASSERT_TRUE(store->CreateBranch("x", m1.seq).ok());
  Snapshot x3 = CommitOn(store.get(), "x", "f", "x", 7);
  ASSERT_TRUE(store->SetTag("keep", x3.seq).ok());
  ASSERT_TRUE(store->DeleteBranch("x").ok());
  EXPECT_TRUE(store->GetSnapshot(x3.seq).ok());  // tagged: kept
  EXPECT_EQ(store->BranchLine("main")->size(), 2u);
  EXPECT_EQ(store->ResolveRef("latest")->seq, m2.seq);
  EXPECT_TRUE(store->FindByStep(7).status().IsNotFound());
  EXPECT_EQ(store->ResolveRef("keep")->seq, x3.seq);
}

// Branch rows alone mean the chain forks: with main's head read from its row,
// lines are walked (a store written before main's row was deferred, too).
TEST(BranchTest, BranchRowsAloneMeanTheChainForks) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  uint64_t x_seq = 0;
  {
    auto store = OpenStore(path);
    Snapshot m1 = CommitOn(store.get(), "main", "f", "1", 1);
    CommitOn(store.get(), "main", "f", "2", 2);
    ASSERT_TRUE(store->CreateBranch("x", m1.seq).ok());
    x_seq = CommitOn(store.get(), "x", "f", "x", 3).seq;
  }
  auto store = OpenStore(path);
  EXPECT_EQ(store->BranchLine("main")->size(), 2u);
  EXPECT_TRUE(store->FindByStep(3).status().IsNotFound());
  EXPECT_EQ(store->FindByStep(3, "x")->seq, x_seq);
}

}  // namespace
}  // namespace ciuicfs
