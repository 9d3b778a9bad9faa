// A store killed with SIGKILL (a forked child) at a named point of a commit,
// or at a random moment, reopens consistent with its last whole snapshot.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "store/index/lmdb_env.h"
#include "store/index/queries.h"
#include "store/pack/pack_store.h"
#include "store/store.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

// The content saved at step `step`: a shared prefix (dedups) plus fresh bytes.
std::string ContentForStep(int64_t step) {
  return RandomBytes(1, 1 << 20) + RandomBytes(1000 + step, (1 << 20) + step * 4099 % 500000);
}

void SaveStep(Store* store, int64_t step) {
  PendingVersion v = Ingest(store, ContentForStep(step), 256 << 10);
  CommitRequest req;
  req.edits.push_back(TreeEdit::PutFile("ckpt/model.pt", 0644, step, &v));
  req.step = step;
  auto s = store->Commit(req);
  if (!s.ok()) _exit(3);
}

// Every retained snapshot reads back exactly what was saved at its step,
// verify is clean, and the packs hold no bytes past what the index uses.
void ExpectConsistent(Store* store, uint64_t expect_head_step) {
  auto head = store->Head();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->step, int64_t(expect_head_step));
  auto snaps = store->ListSnapshots();
  ASSERT_TRUE(snaps.ok());
  for (const Snapshot& s : *snaps) {
    ASSERT_EQ(s.step, int64_t(s.seq)) << "steps and sequences advance together here";
    EXPECT_EQ(ReadVersion(store, VersionIn(store, s, "ckpt/model.pt")), ContentForStep(s.step)) << "seq " << s.seq;
  }
  auto report = store->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  for (const std::string& p : report->problems) ADD_FAILURE() << p;
}

class CrashPointTest : public ::testing::TestWithParam<const char*> {};

TEST_P(CrashPointTest, KillAtPointLeavesLastWholeSnapshot) {
  const std::string point = GetParam();
  TempDir dir;
  const std::string path = dir.Sub("s");
  int status = RunChild([&] {
    auto store = Store::Open(path, {});
    if (!store.ok()) _exit(2);
    for (int step = 1; step <= 3; ++step) SaveStep(store->get(), step);
    setenv("CIUICFS_CRASH_AT", point.c_str(), 1);
    SaveStep(store->get(), 4);
    _exit(4);  // not reached when the point fires
  });
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
  const bool committed = point == "commit.after_txn";
  auto store = OpenStore(path);
  ExpectConsistent(store.get(), committed ? 4 : 3);
  EXPECT_EQ(store->ListSnapshots()->size(), committed ? 4u : 3u);
  // Nothing past the index's reach survives in the packs.
  auto st = store->Stats();
  EXPECT_EQ(st->stored_bytes, st->live_bytes + st->pack_files * kPackHeaderSize);
  // Saving continues.
  SaveStep(store.get(), committed ? 5 : 4);
  ExpectConsistent(store.get(), committed ? 5 : 4);
}

INSTANTIATE_TEST_SUITE_P(Points, CrashPointTest,
                         ::testing::Values("pack.torn_record", "commit.before_txn_commit", "commit.after_txn"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '.') c = '_';
                           return n;
                         });

// The 64th commit's transaction settles the reference log (FORMAT.md,
// "Deferred counts"); a kill in the middle loses that commit whole, and the
// counts of the 63 before it stay exact.
TEST(CrashTest, KillWhileSettlingTheReferenceLogLosesOnlyThatCommit) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  int status = RunChild([&] {
    setenv("CIUICFS_CRASH_AT", "tree.settle", 1);
    auto store = Store::Open(path, {});
    if (!store.ok()) _exit(2);
    for (int step = 1; step <= 200; ++step) SaveStep(store->get(), step);
    _exit(4);  // not reached when the point fires
  });
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
  auto store = OpenStore(path);
  ExpectConsistent(store.get(), 63);
  for (int step = 64; step <= 140; ++step) SaveStep(store.get(), step);  // settles again, whole this time
  ExpectConsistent(store.get(), 140);
  ASSERT_TRUE(store->DropSnapshots({1, 2, 70}).ok());
  ASSERT_TRUE(store->Gc({}).ok());
  auto report = store->Verify();
  ASSERT_TRUE(report.ok());
  for (const std::string& p : report->problems) ADD_FAILURE() << p;
}

TEST(CrashTest, KillAtRandomMomentsDuringSaves) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  std::mt19937 rng(12345);
  uint64_t last_step = 0;
  int kills = 0;
  for (int round = 0; round < 8; ++round) {
    pid_t pid = fork();
    if (pid == 0) {
      auto store = Store::Open(path, {});
      if (!store.ok()) _exit(2);
      auto head = (*store)->Head();
      int64_t step = head.ok() && head->has_value() ? (*head)->step + 1 : 1;
      for (;; ++step) SaveStep(store->get(), step);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + rng() % 250));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
    ++kills;
    auto store = OpenStore(path);
    auto head = store->Head();
    ASSERT_TRUE(head.ok());
    uint64_t step = head->has_value() ? (*head)->step : 0;
    EXPECT_GE(step, last_step);
    last_step = step;
    if (step > 0) ExpectConsistent(store.get(), step);
  }
  EXPECT_EQ(kills, 8);
  EXPECT_GT(last_step, 0u) << "no save completed between kills";
}

}  // namespace
}  // namespace ciuicfs

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

Snapshot CommitDurability(Store* store, const std::string& data, int64_t step, bool durable) {
  PendingVersion v = Ingest(store, data);
  CommitRequest req;
  req.edits.push_back(TreeEdit::PutFile("model.pt", 0644, step, &v));
  req.step = step;
  req.durable = durable;
  auto s = store->Commit(req);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : Snapshot{};
}

// Power loss, simulated at the store level: the pack bytes written after
// the last durable commit never reached the disk. The durable version must
// read back exactly; the lost one must fail loudly (never wrong bytes), be
// named by verify, and heal when the same bytes are saved again.
TEST(PowerLossTest, DurableVersionSurvivesLosingLaterPackBytes) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  const std::string pack = path + "/packs/00000001.pack";
  std::string durable = RandomBytes(1, 3 << 20);
  std::string later = RandomBytes(2, 3 << 20);
  uint64_t synced_size;
  {
    auto store = OpenStore(path);
    CommitDurability(store.get(), durable, 1, true);
    synced_size = FileSize(pack);
    CommitDurability(store.get(), later, 2, false);
    ASSERT_GT(FileSize(pack), synced_size);
  }
  ASSERT_EQ(truncate(pack.c_str(), synced_size), 0);  // what a power loss may leave

  auto store = OpenStore(path);
  EXPECT_EQ(ReadVersion(store.get(), Hash128::Of(durable)), durable);
  auto reader = store->OpenVersion(Hash128::Of(later));
  ASSERT_TRUE(reader.ok());
  std::string buf(later.size(), '\0');
  EXPECT_TRUE((*reader)->Read(0, buf.size(), buf.data()).status().IsCorruption());
  auto report = store->Verify();
  ASSERT_TRUE(report.ok());
  ASSERT_FALSE(report->ok());
  for (const std::string& p : report->problems) EXPECT_NE(p.find("model.pt@2"), std::string::npos) << p;

  // Saving the same bytes again stores them anew and heals the old version.
  Snapshot again = CommitDurability(store.get(), later, 3, true);
  EXPECT_GT(again.bytes_added, later.size());
  EXPECT_EQ(ReadVersion(store.get(), Hash128::Of(later)), later);
  report = store->Verify();
  ASSERT_TRUE(report.ok());
  for (const std::string& p : report->problems) ADD_FAILURE() << p;
}

// A durable commit whose fresh version reuses chunks another save stored
// without a sync (here: before a reopen, so the pack is not one this
// process wrote) makes that pack durable too: the index records it synced
// past those chunks.
TEST(CrashTest, ADurableCommitSyncsThePacksOfTheChunksItReuses) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  const std::string data = RandomBytes(77, 600 << 10);
  { auto store = OpenStore(path); CommitFile(store.get(), "a.pt", data, 1, /*durable=*/false); }
  auto synced_end = [&](uint64_t* indexed) {
    auto env = LmdbEnv::Open(path + "/index", 64 << 20, true);
    EXPECT_TRUE(env.ok());
    auto txn = (*env)->BeginRead();
    auto rows = LoadPackRows(**txn);
    EXPECT_TRUE(rows.ok() && rows->count(1));
    *indexed = rows->at(1).indexed_end;
    return rows->at(1).synced_end;
  };
  uint64_t indexed = 0;
  EXPECT_LT(synced_end(&indexed), indexed);  // not synced: the save was not durable
  {
    auto store = OpenStore(path);
    CommitFile(store.get(), "b.pt", data, 2, /*durable=*/true);  // the same bytes: every chunk reused
  }
  EXPECT_GE(synced_end(&indexed), indexed);
}

}  // namespace
}  // namespace ciuicfs
