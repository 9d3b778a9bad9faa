// The commit log (store/FORMAT.md, "Commit log"): commits made through a
// mount are logged, then applied to the index in batches. Records round
// trip and a torn or damaged tail is cut off; logged commits are read back
// at once in the process, by a read-only open beside it, and after a kill
// of the process at any point, exactly once.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "store/journal/commit_log.h"
#include "store/store.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

// Writes `data` into a new extent and commits it at `path` through the log.
Snapshot SaveLogged(Store* store, const std::string& path, const std::string& data) {
  auto w = store->NewExtent();
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(pwrite((*w)->fd(), data.data(), data.size(), 0), ssize_t(data.size()));
  CommitRequest req;
  req.logged = true;
  req.edits.push_back(TreeEdit::PutExtent(path, 0644, 1, (*w)->number(), data.size()));
  auto snap = store->Commit(req);
  EXPECT_TRUE(snap.ok()) << snap.status().ToString();
  (*w)->Seal();
  return *snap;
}

Status CommitLogged(Store* store, TreeEdit edit) {
  CommitRequest req;
  req.logged = true;
  req.edits.push_back(std::move(edit));
  return store->Commit(req).status();
}

size_t LogFiles(const std::string& dir) {
  auto logs = ListLogs(dir);
  return logs.ok() ? logs->size() : 0;
}

size_t SnapshotCount(Store* store) {
  auto snaps = store->ListSnapshots();
  EXPECT_TRUE(snaps.ok());
  return snaps.ok() ? snaps->size() : 0;
}

TEST(CommitLogTest, ARecordRoundTripsWithEveryKindOfEdit) {
  LoggedCommit c;
  c.seq = 42;
  c.req.branch = "exp-1";
  c.req.step = 1200;
  c.req.time_ns = 1234567890123;
  c.req.durable = true;
  c.req.edits.push_back(TreeEdit::PutExtent("run/model.pt", 0640, 77, 9, 1 << 30));
  c.req.edits.push_back(TreeEdit::PutDirectory("run/sub", 0755, 78));
  c.req.edits.push_back(TreeEdit::Rename("a.tmp", "a", 0644, 79));
  c.req.edits.push_back(TreeEdit::Remove("old"));
  c.req.edits.push_back(TreeEdit::PutExisting("link", 0644, 80, Hash128::Of("some version")));
  ASSERT_TRUE(PrepareForLog(&c.req).ok());
  const std::string enc = EncodeLoggedCommit(c);
  LoggedCommit d;
  ASSERT_TRUE(DecodeLoggedCommit(enc, &d));
  EXPECT_EQ(EncodeLoggedCommit(d), enc);
  EXPECT_EQ(d.seq, 42u);
  EXPECT_EQ(d.req.branch, "exp-1");
  EXPECT_EQ(d.req.step, std::optional<int64_t>(1200));
  EXPECT_TRUE(d.req.durable);
  ASSERT_EQ(d.req.edits.size(), 5u);
  EXPECT_EQ(d.req.edits[0].length, uint64_t(1) << 30);
  EXPECT_EQ(d.req.version_ids[0], c.req.version_ids[0]);
  EXPECT_FALSE(d.req.version_ids[0].IsZero());
  EXPECT_EQ(d.req.edits[2].from, "a.tmp");
  EXPECT_EQ(d.req.edits[4].existing, Hash128::Of("some version"));
  EXPECT_FALSE(DecodeLoggedCommit(enc.substr(0, enc.size() - 1), &d)) << "a short payload must not decode";
  EXPECT_FALSE(DecodeLoggedCommit(enc + "x", &d)) << "trailing bytes must not decode";
}

TEST(CommitLogTest, ATornOrDamagedTailIsCutOffAtTheFirstBadRecord) {
  TempDir dir;
  auto log = CommitLog::Create(dir.path());
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    LoggedCommit c;
    c.seq = seq;
    c.req.edits.push_back(TreeEdit::PutDirectory("d" + std::to_string(seq), 0755, 1));
    ASSERT_TRUE((*log)->Append(c).ok());
  }
  const std::string path = (*log)->path();
  auto all = ReadLog(path);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ(all->back().req.edits[0].path, "d3");
  const auto size = std::filesystem::file_size(path);
  std::filesystem::resize_file(path, size - 3);  // the last record torn
  auto torn = ReadLog(path);
  ASSERT_TRUE(torn.ok());
  EXPECT_EQ(torn->size(), 2u);
  int fd = open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  char x = 'X';
  ASSERT_EQ(pwrite(fd, &x, 1, off_t(size / 2)), 1);  // a byte of the second record
  close(fd);
  auto damaged = ReadLog(path);
  ASSERT_TRUE(damaged.ok());
  EXPECT_EQ(damaged->size(), 1u);
  EXPECT_TRUE(LogIsLive(path)) << "its writer holds it";
  EXPECT_LT(LockDeadLog(path), 0) << "a live log cannot be taken";
  log->reset();
  EXPECT_FALSE(LogIsLive(path));
  int taken = LockDeadLog(path);
  EXPECT_GE(taken, 0);
  close(taken);
}

TEST(CommitLogTest, LoggedCommitsAreReadBackAtOnceAndTheLogGoesAtClose) {
  TempDir dir;
  const std::string data = RandomBytes(1, 300 << 10);
  {
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(CommitLogged(store.get(), TreeEdit::PutDirectory("run", 0755, 1)).ok());
    Snapshot s = SaveLogged(store.get(), "run/a.tmp", data);
    ASSERT_EQ(s.changes.size(), 1u) << "the commit names the version it made";
    const VersionId v = s.changes[0].version;
    ASSERT_TRUE(CommitLogged(store.get(), TreeEdit::Rename("run/a.tmp", "run/a", 0644, 2)).ok());
    EXPECT_EQ(LogFiles(dir.path()), 1u);
    auto head = store->Head();  // waits for the log
    ASSERT_TRUE(head.ok() && head->has_value());
    EXPECT_EQ(VersionIn(store.get(), **head, "run/a"), v);
    EXPECT_EQ(ReadVersion(store.get(), v), data);
    EXPECT_EQ(SnapshotCount(store.get()), 3u) << "one snapshot per logged commit";
    {
      StoreOptions ro;
      ro.read_only = true;
      ro.create_if_missing = false;
      auto reader = Store::Open(dir.path(), ro);  // beside the writer, as `ciuicfs log` beside a mount
      ASSERT_TRUE(reader.ok()) << reader.status().ToString();
      EXPECT_EQ(SnapshotCount(reader->get()), 3u);
    }
  }
  EXPECT_EQ(LogFiles(dir.path()), 0u) << "a clean close applies and deletes its log";
  auto store = OpenStore(dir.path());
  EXPECT_EQ(SnapshotCount(store.get()), 3u);
  auto head = store->Head();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), **head, "run/a")), data);
  auto report = store->Verify();
  ASSERT_TRUE(report.ok());
  for (const std::string& p : report->problems) ADD_FAILURE() << p;
}

// The applier puts many logged commits into one transaction; each must
// make the snapshot a direct commit makes. The same valid edit sequence
// (directories, renames, removals, puts of stored versions, fixed times)
// goes into one store directly and into another through the log without a
// read in between: the chains are identical, snapshot by snapshot (ids
// hash parent, tree, step, time and changes).
TEST(CommitLogTest, BatchedLoggedCommitsMakeTheSnapshotsDirectCommitsMake) {
  TempDir dir;
  auto direct = OpenStore(dir.Sub("direct"));
  auto logged = OpenStore(dir.Sub("logged"));
  std::vector<VersionId> versions;
  for (int i = 0; i < 4; ++i) {  // stored versions, the same ids in both stores
    const std::string bytes = RandomBytes(100 + i, 1000 + 777 * i);
    for (Store* store : {direct.get(), logged.get()}) {
      PendingVersion v = Ingest(store, bytes);
      CommitRequest req;
      req.time_ns = 1000 + i;
      req.edits.push_back(TreeEdit::PutFile("seed" + std::to_string(i), 0644, 5, &v));
      ASSERT_TRUE(store->Commit(req).ok());
      if (store == direct.get()) versions.push_back(v.id());
    }
  }
  std::mt19937_64 rng(7);
  std::vector<std::string> dirs = {""}, files;
  std::vector<CommitRequest> script;
  for (int i = 0; i < 600; ++i) {
    CommitRequest req;
    req.time_ns = 2'000'000 + i;
    if (rng() % 3 == 0) req.step = i;
    const std::string& at = dirs[rng() % dirs.size()];
    const std::string name = (at.empty() ? "" : at + "/") + "n" + std::to_string(i);
    switch (rng() % 5) {
      case 0:
        req.edits.push_back(TreeEdit::PutDirectory(name, 0755, i));
        dirs.push_back(name);
        break;
      case 1:
      case 2:
        req.edits.push_back(TreeEdit::PutExisting(name, 0644, i, versions[rng() % versions.size()]));
        files.push_back(name);
        break;
      case 3:
        if (files.empty()) continue;
        {
          const size_t k = rng() % files.size();
          req.edits.push_back(TreeEdit::Rename(files[k], name, 0600, i));  // tmp-then-rename
          files[k] = name;
        }
        break;
      case 4:
        if (files.empty()) continue;
        {
          const size_t k = rng() % files.size();
          req.edits.push_back(TreeEdit::Remove(files[k]));
          files.erase(files.begin() + long(k));
        }
        break;
    }
    script.push_back(std::move(req));
  }
  for (const CommitRequest& req : script) ASSERT_TRUE(direct->Commit(req).ok());
  for (CommitRequest req : script) {
    req.logged = true;
    ASSERT_TRUE(logged->Commit(req).ok());
  }
  auto a = direct->ListSnapshots();
  auto b = logged->ListSnapshots();  // waits for the applier
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ((*a)[i].id, (*b)[i].id) << "snapshot " << (*a)[i].seq;
    EXPECT_EQ((*a)[i].tree, (*b)[i].tree) << "snapshot " << (*a)[i].seq;
    if (::testing::Test::HasFailure()) break;
  }
  auto report = logged->Verify();
  ASSERT_TRUE(report.ok());
  for (const std::string& p : report->problems) ADD_FAILURE() << p;
}

// A child logs commits and is killed: before they are applied (the crash
// point), or after (SIGKILL once a read saw them). The parent's open
// applies what is missing, exactly once.
class LogKillTest : public ::testing::TestWithParam<bool> {};

TEST_P(LogKillTest, AKilledProcessLosesNoLoggedCommitAndNoneIsAppliedTwice) {
  const bool applied_first = GetParam();
  TempDir dir;
  const std::string a = RandomBytes(2, 2 << 20), b = RandomBytes(3, 64 << 10);
  { auto store = OpenStore(dir.path()); }
  int acked[2];
  ASSERT_EQ(pipe(acked), 0);
  pid_t pid = fork();
  if (pid == 0) {  // one byte down the pipe per commit whose call returned
    close(acked[0]);
    if (!applied_first) setenv("CIUICFS_CRASH_AT", "journal.before_apply", 1);
    auto store = OpenStore(dir.path());
    SaveLogged(store.get(), "a.pt", a);
    (void)!write(acked[1], "a", 1);
    SaveLogged(store.get(), "b.json", b);
    (void)!write(acked[1], "b", 1);
    if (CommitLogged(store.get(), TreeEdit::Rename("b.json", "c.json", 0644, 3)).ok()) (void)!write(acked[1], "c", 1);
    if (applied_first) (void)store->Head();  // everything applied
    kill(getpid(), SIGKILL);
    _exit(0);
  }
  close(acked[1]);
  std::string got;
  char buf[8];
  for (ssize_t n; (n = read(acked[0], buf, sizeof(buf))) > 0;) got.append(buf, size_t(n));
  close(acked[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  if (applied_first) {
    ASSERT_EQ(got, "abc");
  }
  ASSERT_EQ(LogFiles(dir.path()), 1u) << "the dead process's log stays";
  {
    StoreOptions ro;  // a read-only open first: it has the dead log applied
    ro.read_only = true;
    ro.create_if_missing = false;
    auto reader = Store::Open(dir.path(), ro);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  }
  EXPECT_EQ(LogFiles(dir.path()), 0u);
  auto store = OpenStore(dir.path());
  // Every commit whose call returned, once; perhaps the one logged as the
  // process died. The applier dies at its first batch, so at least the
  // first commit was logged, and none was applied by the dead process.
  const size_t snaps = SnapshotCount(store.get());
  EXPECT_GE(snaps, std::max<size_t>(got.size(), 1));
  EXPECT_LE(snaps, std::min<size_t>(got.size() + 1, 3));
  auto head = store->Head();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), **head, "a.pt")), a);
  if (snaps >= 2) {
    const std::string name = snaps == 3 ? "c.json" : "b.json";
    EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), **head, name)), b);
  }
  ASSERT_TRUE(store->DrainIngest().ok());
  EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), **head, "a.pt")), a);
  auto report = store->Verify();
  ASSERT_TRUE(report.ok());
  for (const std::string& p : report->problems) ADD_FAILURE() << p;
}

INSTANTIATE_TEST_SUITE_P(Kills, LogKillTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "AfterApply" : "BeforeApply"; });

}  // namespace
}  // namespace ciuicfs
