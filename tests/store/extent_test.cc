// Versions saved as extents (store/FORMAT.md, "Extents"): a commit names
// the extent's bytes as they are, reads come from the extent until the
// background ingest has cut it into chunks, and then from packs, bit-exact
// either way; prune before ingest, gc, kills during ingest, durability.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <functional>

#include "store/store.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

// Writes `data` into a new extent and commits it at `path`.
Snapshot SaveAsExtent(Store* store, const std::string& path, const std::string& data, bool durable = false,
                      bool seal = true, std::unique_ptr<ExtentWriter>* keep = nullptr) {
  auto w = store->NewExtent();
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(pwrite((*w)->fd(), data.data(), data.size(), 0), ssize_t(data.size()));
  CommitRequest req;
  req.edits.push_back(TreeEdit::PutExtent(path, 0644, 1, (*w)->number(), data.size()));
  req.durable = durable;
  auto snap = store->Commit(req);
  EXPECT_TRUE(snap.ok()) << snap.status().ToString();
  if (seal) (*w)->Seal();
  if (keep) *keep = std::move(w.value());
  return *snap;
}

size_t ExtentFiles(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(dir + "/extents", ec)) n += e.is_regular_file();
  return n;
}

TEST(ExtentTest, ACommittedExtentReadsBackBeforeAndAfterIngest) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  const std::string data = RandomBytes(7, 3 << 20);
  std::unique_ptr<ExtentWriter> w;
  Snapshot snap = SaveAsExtent(store.get(), "run/model.pt", data, false, false, &w);  // not sealed: not ingested
  const VersionId v = VersionIn(store.get(), snap, "run/model.pt");
  auto m = store->GetManifest(v);
  ASSERT_TRUE(m.ok());
  EXPECT_NE(m->extent, 0u) << "before ingest the version is its extent";
  EXPECT_EQ(m->size, data.size());
  EXPECT_EQ(ReadVersion(store.get(), v), data);
  auto st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->backlog_versions, 1u);
  EXPECT_EQ(st->backlog_bytes, data.size());
  EXPECT_EQ(st->chunks, 0u) << "nothing was hashed on the save path";
  ExpectVerifyClean(store.get());

  w->Seal();
  ASSERT_TRUE(store->DrainIngest().ok());
  m = store->GetManifest(v);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->extent, 0u);
  EXPECT_GT(m->chunks.size(), 1u);
  EXPECT_EQ(ReadVersion(store.get(), v), data);
  st = store->Stats();
  EXPECT_EQ(st->backlog_versions, 0u);
  EXPECT_EQ(st->stored_bytes, 0u) << "new chunks stay in the extent: no pack was written";
  EXPECT_GE(st->extent_bytes, data.size());
  for (const ChunkRef& c : m->chunks) {
    std::string bytes;
    EXPECT_TRUE(store->ReadChunk(c.id, &bytes).ok());
  }
  w.reset();
  EXPECT_EQ(ExtentFiles(dir.path()), 1u) << "the extent holds the version's chunks now";
  ExpectVerifyClean(store.get());
}

// A second save whose bytes the store has (all of them, or a part): the
// ingest references the stored chunks and the extent keeps only the rest;
// an extent that keeps nothing is removed, the others have holes.
TEST(ExtentTest, StoredBytesAreReferencedAndPunchedOutOfTheExtent) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  const std::string a = RandomBytes(20, 4 << 20), b = RandomBytes(21, 4 << 20), c = RandomBytes(22, 4 << 20);
  SaveAsExtent(store.get(), "one.pt", a + b);
  ASSERT_TRUE(store->DrainIngest().ok());
  Snapshot two = SaveAsExtent(store.get(), "two.pt", a + c);
  Snapshot three = SaveAsExtent(store.get(), "three.pt", a + b);
  ASSERT_TRUE(store->DrainIngest().ok());
  EXPECT_EQ(ExtentFiles(dir.path()), 2u) << "the identical save kept nothing, so its extent is gone";
  EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), three, "two.pt")), a + c);
  EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), three, "three.pt")), a + b);
  auto st = store->Stats();
  ASSERT_TRUE(st.ok());
  // a, b and c once each (plus a chunk's worth at the boundaries).
  EXPECT_LT(st->extent_bytes, a.size() + b.size() + c.size() + (2u << 20)) << "two.pt's copy of a was punched out";
  EXPECT_GE(st->extent_bytes, a.size() + b.size() + c.size() - (2u << 20));
  ExpectVerifyClean(store.get());
  (void)two;
}

TEST(ExtentTest, GcRemovesAnIngestedExtentOnceNoChunkInItIsUsed) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  Snapshot first = SaveAsExtent(store.get(), "m.pt", RandomBytes(23, 2 << 20));
  ASSERT_TRUE(store->DrainIngest().ok());
  ASSERT_EQ(ExtentFiles(dir.path()), 1u);
  Snapshot second = CommitFile(store.get(), "m.pt", "replaced");
  ASSERT_TRUE(store->DropSnapshots({first.seq}).ok());
  auto gc = store->Gc({});
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_GT(gc->chunks_deleted, 0u);
  EXPECT_EQ(gc->extents_deleted, 1u);
  EXPECT_EQ(ExtentFiles(dir.path()), 0u);
  EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), second, "m.pt")), "replaced");
  ExpectVerifyClean(store.get());
}

TEST(ExtentTest, AReaderOpenedBeforeIngestKeepsReadingAfterTheExtentIsRemoved) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  const std::string data = RandomBytes(8, 2 << 20);
  SaveAsExtent(store.get(), "first.pt", data);  // stored: the second save's extent keeps nothing
  ASSERT_TRUE(store->DrainIngest().ok());
  ASSERT_EQ(ExtentFiles(dir.path()), 1u);
  std::unique_ptr<ExtentWriter> w;
  Snapshot snap = SaveAsExtent(store.get(), "x.pt", data, false, false, &w);
  auto reader = store->OpenVersion(VersionIn(store.get(), snap, "x.pt"));
  ASSERT_TRUE(reader.ok());
  w->Seal();
  ASSERT_TRUE(store->DrainIngest().ok());
  EXPECT_EQ(ExtentFiles(dir.path()), 1u) << "x.pt's extent is gone";
  std::string out(data.size(), '\0');
  auto n = (*reader)->Read(0, out.size(), out.data());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, data.size());
  EXPECT_EQ(out, data);
}

TEST(ExtentTest, IdenticalSavesShareChunksAfterIngest) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  const std::string data = RandomBytes(9, 4 << 20);
  Snapshot a = SaveAsExtent(store.get(), "a.pt", data);
  Snapshot b = SaveAsExtent(store.get(), "b.pt", data);
  ASSERT_TRUE(store->DrainIngest().ok());
  auto ma = store->GetManifest(VersionIn(store.get(), b, "a.pt"));
  auto mb = store->GetManifest(VersionIn(store.get(), b, "b.pt"));
  ASSERT_TRUE(ma.ok() && mb.ok());
  ASSERT_EQ(ma->chunks.size(), mb->chunks.size());
  for (size_t i = 0; i < ma->chunks.size(); ++i) EXPECT_EQ(ma->chunks[i].id, mb->chunks[i].id);
  auto st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_LT(st->extent_bytes + st->stored_bytes, data.size() + data.size() / 10) << "one copy of the bytes";
  EXPECT_EQ(ExtentFiles(dir.path()), 1u);
  ExpectVerifyClean(store.get());
  (void)a;
}

TEST(ExtentTest, PruneBeforeIngestReleasesTheExtentAndGcRemovesIt) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  std::unique_ptr<ExtentWriter> w;
  Snapshot first = SaveAsExtent(store.get(), "m.pt", RandomBytes(10, 1 << 20), false, false, &w);
  Snapshot second = CommitFile(store.get(), "m.pt", "replaced");
  ASSERT_TRUE(store->DropSnapshots({first.seq}).ok());
  auto st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->backlog_versions, 0u) << "the released version left its extent's row";
  w.reset();
  auto gc = store->Gc({});
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->extents_deleted, 1u);
  EXPECT_EQ(ExtentFiles(dir.path()), 0u);
  EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), second, "m.pt")), "replaced");
  ExpectVerifyClean(store.get());
}

TEST(ExtentTest, AnExtentNoCommitNamedIsRemovedWithItsWriter) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  {
    auto w = store->NewExtent();
    ASSERT_TRUE(w.ok());
    ASSERT_EQ(pwrite((*w)->fd(), "abc", 3, 0), 3);
    EXPECT_EQ(ExtentFiles(dir.path()), 1u);
  }
  EXPECT_EQ(ExtentFiles(dir.path()), 0u);
}

TEST(ExtentTest, ABacklogLeftByAClosedStoreIsIngestedByTheNextOpen) {
  TempDir dir;
  const std::string data = RandomBytes(11, 2 << 20);
  pid_t pid = fork();
  if (pid == 0) {  // commits, then dies before anything ingests the extent (as kill -9 would)
    auto store = OpenStore(dir.path());
    std::unique_ptr<ExtentWriter> w;
    SaveAsExtent(store.get(), "m.pt", data, false, false, &w);
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto store = OpenStore(dir.path());
  auto head = store->Head();
  ASSERT_TRUE(head.ok() && head->has_value());
  const VersionId v = VersionIn(store.get(), **head, "m.pt");
  ASSERT_TRUE(store->DrainIngest().ok());
  auto m = store->GetManifest(v);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->extent, 0u);
  EXPECT_EQ(ReadVersion(store.get(), v), data);
  ExpectVerifyClean(store.get());
}

// A child commits an extent version and is killed at a point of its ingest;
// the parent reopens: the version reads back whole, verify is clean and the
// extent is ingested (again) or gone.
class IngestCrashTest : public ::testing::TestWithParam<const char*> {};

TEST_P(IngestCrashTest, KillDuringIngestLosesNothing) {
  TempDir dir;
  const std::string data = RandomBytes(12, 3 << 20);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("CIUICFS_CRASH_AT", GetParam(), 1);
    auto store = OpenStore(dir.path());
    SaveAsExtent(store.get(), "m.pt", data);
    (void)store->DrainIngest();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the crash point was not reached";
  auto store = OpenStore(dir.path());
  auto head = store->Head();
  ASSERT_TRUE(head.ok() && head->has_value());
  const VersionId v = VersionIn(store.get(), **head, "m.pt");
  EXPECT_EQ(ReadVersion(store.get(), v), data);
  ExpectVerifyClean(store.get());
  ASSERT_TRUE(store->DrainIngest().ok());
  EXPECT_EQ(ReadVersion(store.get(), v), data);
  auto m = store->GetManifest(v);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->extent, 0u);
  EXPECT_EQ(ExtentFiles(dir.path()), 1u) << "the chunks stay in the extent";
  ExpectVerifyClean(store.get());
}

INSTANTIATE_TEST_SUITE_P(Points, IngestCrashTest,
                         ::testing::Values("ingest.before_sync", "ingest.before_txn_commit", "ingest.after_txn"));

// What power loss can do to a version committed without fsync: its extent
// comes back short. It reads as lost (never other bytes), verify names it,
// and the ingest leaves it alone.
TEST(ExtentTest, AShortExtentReadsAsLostAndVerifyNamesIt) {
  TempDir dir;
  pid_t pid = fork();
  if (pid == 0) {  // commits, cuts the extent short (what power loss may leave), dies
    auto store = OpenStore(dir.path());
    std::unique_ptr<ExtentWriter> w;
    SaveAsExtent(store.get(), "m.pt", RandomBytes(15, 1 << 20), false, false, &w);
    _exit(truncate(w->path().c_str(), 4096) == 0 ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto store = OpenStore(dir.path());
  auto head = store->Head();
  ASSERT_TRUE(head.ok() && head->has_value());
  const VersionId v = VersionIn(store.get(), **head, "m.pt");
  auto m0 = store->GetManifest(v);
  ASSERT_TRUE(m0.ok());
  const uint32_t extent = m0->extent;
  ASSERT_NE(extent, 0u);
  ASSERT_TRUE(store->DrainIngest().ok());
  auto reader = store->OpenVersion(v);
  ASSERT_TRUE(reader.ok());
  std::string out(1 << 20, '\0');
  auto n = (*reader)->Read(0, out.size(), out.data());
  ASSERT_FALSE(n.ok());
  EXPECT_TRUE(n.status().IsCorruption()) << n.status().ToString();
  auto report = store->Verify();
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_NE(report->problems[0].find("lost"), std::string::npos) << report->problems[0];
  auto m = store->GetManifest(v);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->extent, extent) << "not ingested: its bytes are not there";
}

// A full disk while an extent is ingested (its trailer, the index rows):
// the ingest fails and changes nothing, the version reads back from its
// extent, verify is clean, and once space is freed the ingest completes.
TEST(ExtentTest, ADiskFullDuringIngestLosesNothing) {
  TempDir dir;
  const std::string small = dir.Sub("small");
  ASSERT_EQ(mkdir(small.c_str(), 0700), 0);
  if (mount("tmpfs", small.c_str(), "tmpfs", 0, "size=24m,mode=0700") != 0)
    GTEST_SKIP() << "skipping: cannot mount a small tmpfs (" << strerror(errno) << "); needs root";
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{small};
  const std::string data = RandomBytes(24, 6 << 20);
  {
    auto store = OpenStore(small + "/store");
    std::unique_ptr<ExtentWriter> w;
    Snapshot snap = SaveAsExtent(store.get(), "m.pt", data, false, false, &w);
    const VersionId v = VersionIn(store.get(), snap, "m.pt");
    // Fill what is left of the disk, then let the ingest run.
    const std::string ballast = small + "/ballast";
    int fd = open(ballast.c_str(), O_WRONLY | O_CREAT, 0600);
    ASSERT_GE(fd, 0);
    const std::string mib(1 << 20, 'b');
    while (write(fd, mib.data(), mib.size()) > 0) {
    }
    while (write(fd, mib.data(), 4096) > 0) {
    }
    close(fd);
    w->Seal();
    Status drained = store->DrainIngest();
    EXPECT_FALSE(drained.ok()) << "the ingest found room on a full disk";
    EXPECT_EQ(drained.code(), Status::Code::kNoSpace) << drained.ToString();
    EXPECT_TRUE(store->background_error().ok()) << "a full disk is not sticky: " << store->background_error().ToString();
    auto m = store->GetManifest(v);
    ASSERT_TRUE(m.ok());
    EXPECT_NE(m->extent, 0u) << "still its extent";
    EXPECT_EQ(ReadVersion(store.get(), v), data);
    ExpectVerifyClean(store.get());
    ASSERT_EQ(unlink(ballast.c_str()), 0);
    ASSERT_TRUE(store->DrainIngest().ok());
    m = store->GetManifest(v);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->extent, 0u) << "ingested once there was room";
    EXPECT_EQ(ReadVersion(store.get(), v), data);
    ExpectVerifyClean(store.get());
  }
}

// A small save's new chunks go into a pack and its extent is removed.
TEST(ExtentTest, ASmallSaveIsCopiedIntoAPackAndItsExtentRemoved) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  const std::string data = RandomBytes(25, 3000);
  Snapshot snap = SaveAsExtent(store.get(), "trainer_state.json", data);
  ASSERT_TRUE(store->DrainIngest().ok());
  EXPECT_EQ(ExtentFiles(dir.path()), 0u);
  auto st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_GT(st->stored_bytes, data.size()) << "in a pack";
  EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), snap, "trainer_state.json")), data);
  ExpectVerifyClean(store.get());
}

// A reader of a version still in its extent reads unchecked bytes, so the
// ingest punches no range of that extent while the reader is open; the
// punches happen when it closes.
TEST(ExtentTest, NoRangeIsPunchedUnderAnOpenReader) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  const std::string a = RandomBytes(26, 4 << 20), c = RandomBytes(27, 4 << 20);
  SaveAsExtent(store.get(), "one.pt", a);
  ASSERT_TRUE(store->DrainIngest().ok());
  std::unique_ptr<ExtentWriter> w;
  Snapshot snap = SaveAsExtent(store.get(), "two.pt", a + c, false, false, &w);
  const std::string path = w->path();
  auto reader = store->OpenVersion(VersionIn(store.get(), snap, "two.pt"));
  ASSERT_TRUE(reader.ok());
  ASSERT_NE((*reader)->extent(), nullptr);
  w->Seal();
  ASSERT_TRUE(store->DrainIngest().ok());  // would punch two.pt's copy of a
  std::string out(a.size() + c.size(), '\0');
  auto n = (*reader)->Read(0, out.size(), out.data());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(out, a + c) << "bytes read under an open reader changed";
  const uint64_t before = [&] { struct stat st; stat(path.c_str(), &st); return uint64_t(st.st_blocks) * 512; }();
  reader->reset();
  const uint64_t after = [&] { struct stat st; stat(path.c_str(), &st); return uint64_t(st.st_blocks) * 512; }();
  EXPECT_LT(after + (2u << 20), before) << "the deferred punch ran when the reader closed";
  EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), snap, "two.pt")), a + c);
  ExpectVerifyClean(store.get());
}

// An extent with two versions whose file came back short of the longer one
// (power loss): the shorter is ingested, the longer stays lost (never zeros).
TEST(ExtentTest, ALostVersionStaysLostWhenItsExtentIsIngested) {
  TempDir dir;
  const std::string data = RandomBytes(28, 3 << 20);
  pid_t pid = fork();
  if (pid == 0) {
    auto store = OpenStore(dir.path());
    auto w = store->NewExtent();
    if (!w.ok() || pwrite((*w)->fd(), data.data(), data.size(), 0) != ssize_t(data.size())) _exit(1);
    for (uint64_t len : {uint64_t(2 << 20), uint64_t(data.size())}) {  // two commits of one extent
      CommitRequest req;
      req.edits.push_back(TreeEdit::PutExtent(len == data.size() ? "long.pt" : "short.pt", 0644, 1, (*w)->number(), len));
      if (!store->Commit(req).ok()) _exit(2);
    }
    _exit(truncate((*w)->path().c_str(), (2 << 20) + 4096) == 0 ? 0 : 3);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store->DrainIngest().ok());
  auto head = store->Head();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), **head, "short.pt")), data.substr(0, 2 << 20));
  auto reader = store->OpenVersion(VersionIn(store.get(), **head, "long.pt"));
  ASSERT_TRUE(reader.ok());
  std::string out(data.size(), '\0');
  auto n = (*reader)->Read(0, out.size(), out.data());
  EXPECT_FALSE(n.ok()) << "the lost version read as bytes";
  auto report = store->Verify();
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_NE(report->problems[0].find("lost"), std::string::npos) << report->problems[0];
}

// While another process has the store open (another mount), whose readers
// this one cannot see, the ingest punches nothing.
TEST(ExtentTest, NothingIsPunchedWhileAnotherProcessHasTheStore) {
  TempDir dir;
  StoreOptions shared;
  shared.shared = true;
  const std::string a = RandomBytes(29, 4 << 20), c = RandomBytes(30, 4 << 20);
  {
    auto store = OpenStore(dir.path(), shared);
    SaveAsExtent(store.get(), "one.pt", a);
    ASSERT_TRUE(store->DrainIngest().ok());
  }
  int ready[2], done[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(done), 0);
  pid_t pid = fork();
  if (pid == 0) {  // the other mount: holds the store open until told
    auto other = OpenStore(dir.path(), shared);
    char x = 1;
    (void)!write(ready[1], &x, 1);
    (void)!read(done[0], &x, 1);
    _exit(0);
  }
  char x;
  ASSERT_EQ(read(ready[0], &x, 1), 1);
  {
    auto store = OpenStore(dir.path(), shared);
    std::unique_ptr<ExtentWriter> w;
    Snapshot snap = SaveAsExtent(store.get(), "two.pt", a + c, false, false, &w);
    const std::string path = w->path();
    w.reset();
    ASSERT_TRUE(store->DrainIngest().ok());
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_GE(uint64_t(st.st_blocks) * 512, a.size() + c.size()) << "a range was punched under another process";
    EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), snap, "two.pt")), a + c);
    ExpectVerifyClean(store.get());
  }
  (void)!write(done[1], &x, 1);
  int status = 0;
  waitpid(pid, &status, 0);
}

}  // namespace
}  // namespace ciuicfs
