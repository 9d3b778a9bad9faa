// The store under injected disk faults (store/pack/fault_backend.h): each
// test fails one kind of pack I/O and checks what a reader then sees.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "store/pack/fault_backend.h"
#include "store/pack/local_backend.h"
#include "store/store.h"
#include "tests/store/backend_contract.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

// A store whose pack backend is wrapped in a FaultBackend.
struct FaultyStore {
  std::unique_ptr<Store> store;
  FaultBackend* faults = nullptr;
};

FaultyStore OpenFaulty(const std::string& dir) {
  FaultyStore fs;
  StoreOptions options;
  options.pack_target_size = 8 << 20;
  options.wrap_pack_backend = [&fs](std::unique_ptr<PackBackend> base) -> std::unique_ptr<PackBackend> {
    auto wrapped = std::make_unique<FaultBackend>(std::move(base));
    fs.faults = wrapped.get();
    return wrapped;
  };
  fs.store = OpenStore(dir, options);
  return fs;
}

// Ingests `data` and commits it at `path`; the status of whichever step failed.
Status TrySave(Store* store, const std::string& path, const std::string& data, bool durable) {
  auto ingest = store->NewIngest();
  for (size_t off = 0; off < data.size(); off += 1 << 20) {
    CIUIC_RETURN_IF_ERROR(ingest->Append(data.data() + off, std::min<size_t>(1 << 20, data.size() - off)));
  }
  auto version = ingest->Finish();
  if (!version.ok()) return version.status();
  CommitRequest req;
  req.edits.push_back(TreeEdit::PutFile(path, 0644, 1, &*version));
  req.durable = durable;
  auto snap = store->Commit(req);
  return snap.ok() ? Status::Ok() : snap.status();
}

std::string ReadHeadFile(Store* store, const std::string& path) {
  auto head = store->Head();
  if (!head.ok() || !*head) return "<no head>";
  VersionId v = VersionIn(store, **head, path);
  if (v.IsZero()) return "<absent>";
  return ReadVersion(store, v);
}

uint64_t PackDirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (auto& e : std::filesystem::directory_iterator(dir + "/packs")) total += e.file_size();
  return total;
}

TEST(StoreFaultsTest, EnospcMidAppendFailsThatSaveAndKeepsEveryEarlierVersion) {
  TempDir dir;
  const std::string a = RandomBytes(1, 4 << 20), b = RandomBytes(2, 3 << 20), c = RandomBytes(3, 8 << 20);
  FaultyStore fs = OpenFaulty(dir.path());
  ASSERT_TRUE(TrySave(fs.store.get(), "a.pt", a, false).ok());
  ASSERT_TRUE(TrySave(fs.store.get(), "b.pt", b, false).ok());
  // The third record of the next save: part of it is written, then the
  // disk is full.
  fs.faults->Add({.op = FaultOp::kAppend, .kind = FaultRule::Kind::kShort, .error = ENOSPC, .nth = 3});
  Status s = TrySave(fs.store.get(), "c.pt", c, false);
  EXPECT_EQ(fs.faults->fired(), 1u);
  ASSERT_EQ(s.code(), Status::Code::kNoSpace) << s.ToString();
  EXPECT_EQ((*fs.store->Head())->seq, 2u) << "the failed save added no snapshot";
  EXPECT_EQ(ReadHeadFile(fs.store.get(), "a.pt"), a);
  EXPECT_EQ(ReadHeadFile(fs.store.get(), "b.pt"), b);
  EXPECT_EQ(ReadHeadFile(fs.store.get(), "c.pt"), "<absent>");
  EXPECT_TRUE(fs.store->background_error().ok()) << "a full disk is not a lost write";
  // Space again: the same save goes through, and everything survives a reopen.
  ASSERT_TRUE(TrySave(fs.store.get(), "c.pt", c, true).ok());
  fs.store.reset();
  auto reopened = OpenStore(dir.path());
  EXPECT_EQ(ReadHeadFile(reopened.get(), "a.pt"), a);
  EXPECT_EQ(ReadHeadFile(reopened.get(), "b.pt"), b);
  EXPECT_EQ(ReadHeadFile(reopened.get(), "c.pt"), c);
  auto report = reopened->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems.front();
}

TEST(StoreFaultsTest, FailedFdatasyncStopsWritesUntilReopenAndClaimsNothing) {
  TempDir dir;
  const std::string a = RandomBytes(11, 2 << 20), b = RandomBytes(12, 2 << 20), c = RandomBytes(13, 2 << 20);
  {
    FaultyStore fs = OpenFaulty(dir.path());
    ASSERT_TRUE(TrySave(fs.store.get(), "a.pt", a, true).ok());   // acknowledged, durable
    ASSERT_TRUE(TrySave(fs.store.get(), "b.pt", b, false).ok());  // acknowledged (close)
    fs.faults->Add({.op = FaultOp::kSync, .error = EIO});
    Status s = TrySave(fs.store.get(), "c.pt", c, true);  // what fsync() of c asks for
    ASSERT_EQ(s.code(), Status::Code::kIOError) << s.ToString();  // EIO at the mount
    Status bg = fs.store->background_error();
    ASSERT_FALSE(bg.ok());
    EXPECT_NE(bg.message().find("fdatasync"), std::string::npos) << bg.message();
    // Every later write fails with that error, retried or not, even once
    // the disk would sync again.
    fs.faults->Clear();
    EXPECT_EQ(TrySave(fs.store.get(), "d.pt", RandomBytes(14, 1 << 20), false).code(), Status::Code::kIOError);
    EXPECT_EQ(TrySave(fs.store.get(), "c.pt", c, true).code(), Status::Code::kIOError);
    EXPECT_FALSE(fs.store->Sync().ok());
    EXPECT_FALSE(fs.store->SetTag("t", 1).ok());
    EXPECT_FALSE(fs.store->Gc({}).ok());
    // Reads go on.
    EXPECT_EQ(ReadHeadFile(fs.store.get(), "a.pt"), a);
    EXPECT_EQ(ReadHeadFile(fs.store.get(), "b.pt"), b);
  }
  auto reopened = OpenStore(dir.path());
  ASSERT_TRUE(reopened->background_error().ok());
  auto snaps = reopened->ListSnapshots();
  ASSERT_TRUE(snaps.ok());
  ASSERT_EQ(snaps->size(), 2u) << "no snapshot for a save whose sync failed";
  EXPECT_EQ(ReadHeadFile(reopened.get(), "a.pt"), a);
  EXPECT_EQ(ReadHeadFile(reopened.get(), "b.pt"), b);
  EXPECT_EQ(ReadHeadFile(reopened.get(), "c.pt"), "<absent>");
  auto report = reopened->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems.front();
  EXPECT_TRUE(TrySave(reopened.get(), "c.pt", c, true).ok()) << "the reopened store takes writes";
  EXPECT_EQ(ReadHeadFile(reopened.get(), "c.pt"), c);
}

TEST(StoreFaultsTest, TornAppendThenKillIsCutOnReopenAndVerifyIsClean) {
  TempDir dir;
  const std::string a = RandomBytes(21, 3 << 20), b = RandomBytes(22, 6 << 20);
  pid_t pid = fork();
  if (pid == 0) {  // the process that dies: no gtest here, exit codes only
    FaultyStore fs = OpenFaulty(dir.path());
    if (!TrySave(fs.store.get(), "a.pt", a, true).ok()) _exit(2);
    fs.faults->Add({.op = FaultOp::kAppend, .kind = FaultRule::Kind::kTorn, .error = EIO, .nth = 2});
    if (TrySave(fs.store.get(), "b.pt", b, false).ok()) _exit(3);
    if (fs.faults->fired() != 1) _exit(4);
    kill(getpid(), SIGKILL);
    _exit(5);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child exit " << WEXITSTATUS(status);
  const uint64_t before = PackDirBytes(dir.path());
  auto store = OpenStore(dir.path());
  const uint64_t after = PackDirBytes(dir.path());
  EXPECT_LT(after, before) << "recovery cut the records past the index, the torn one included";
  EXPECT_EQ(ReadHeadFile(store.get(), "a.pt"), a);
  EXPECT_EQ(ReadHeadFile(store.get(), "b.pt"), "<absent>");
  auto report = store->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems.front();
  ASSERT_TRUE(TrySave(store.get(), "b.pt", b, true).ok());
  EXPECT_EQ(ReadHeadFile(store.get(), "b.pt"), b);
}

TEST(StoreFaultsTest, EioOnPackReadIsAnErrorNeverBytes) {
  TempDir dir;
  const std::string a = RandomBytes(31, 4 << 20);
  FaultyStore fs = OpenFaulty(dir.path());
  ASSERT_TRUE(TrySave(fs.store.get(), "a.pt", a, true).ok());
  VersionId v = VersionIn(fs.store.get(), **fs.store->Head(), "a.pt");
  // Fail reads of payloads from 1 MiB into the pack on.
  fs.faults->Add({.op = FaultOp::kReadAt,
                  .error = EIO,
                  .when = [](uint32_t, uint64_t offset, uint64_t) { return offset >= (1u << 20); },
                  .sticky = true});
  auto reader = fs.store->OpenVersion(v);
  ASSERT_TRUE(reader.ok());
  std::string buf(a.size(), '\0');
  size_t good = 0;
  Status failed;
  for (uint64_t off = 0; off < a.size(); off += 128 << 10) {
    auto n = (*reader)->Read(off, 128 << 10, buf.data() + off);
    if (!n.ok()) {
      failed = n.status();
      break;
    }
    good = off + *n;
  }
  ASSERT_EQ(failed.code(), Status::Code::kIOError) << failed.ToString();
  EXPECT_GT(good, 0u);
  EXPECT_LT(good, a.size());
  EXPECT_EQ(buf.substr(0, good), a.substr(0, good)) << "every byte handed out before the error is right";
  auto report = fs.store->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok()) << "verify names the chunks it could not read";
  // The disk heals: the same reader reads everything, bit-exact.
  fs.faults->Clear();
  EXPECT_EQ(ReadVersion(fs.store.get(), v), a);
  EXPECT_TRUE(fs.store->background_error().ok()) << "a failed read is not a lost write";
}

TEST(StoreFaultsTest, FailedSyncOfGcCopiesKeepsTheOldPacksAndStopsWrites) {
  TempDir dir;
  const std::string keep = RandomBytes(41, 1 << 20);
  {
    FaultyStore fs = OpenFaulty(dir.path());
    // One pack, mostly garbage once the big file is gone: gc will copy
    // `keep` out of it and delete it.
    ASSERT_TRUE(TrySave(fs.store.get(), "keep.pt", keep, false).ok());
    ASSERT_TRUE(TrySave(fs.store.get(), "big.pt", RandomBytes(42, 6 << 20), false).ok());
    CommitRequest rm;
    rm.edits.push_back(TreeEdit::Remove("big.pt"));
    ASSERT_TRUE(fs.store->Commit(rm).ok());
    ASSERT_TRUE(fs.store->DropSnapshots({1, 2}).ok());
    // Open a new ingest pack so the old one is no longer being appended to.
    ASSERT_TRUE(TrySave(fs.store.get(), "next.pt", RandomBytes(43, 3 << 20), false).ok());
    ASSERT_TRUE(TrySave(fs.store.get(), "next2.pt", RandomBytes(44, 6 << 20), false).ok());
    const uint64_t packs_before = fs.store->Stats()->pack_files;
    fs.faults->Add({.op = FaultOp::kSync, .error = EIO});
    auto gc = fs.store->Gc({});
    ASSERT_FALSE(gc.ok());
    EXPECT_EQ(gc.status().code(), Status::Code::kIOError) << gc.status().ToString();
    EXPECT_EQ(fs.faults->fired(), 1u) << "gc synced its own copies, and only those";
    EXPECT_FALSE(fs.store->background_error().ok());
    EXPECT_EQ(fs.store->Stats()->pack_files, packs_before) << "no pack was deleted behind unsynced copies";
    EXPECT_EQ(ReadHeadFile(fs.store.get(), "keep.pt"), keep);
  }
  auto reopened = OpenStore(dir.path());
  EXPECT_EQ(ReadHeadFile(reopened.get(), "keep.pt"), keep);
  auto report = reopened->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems.front();
  auto gc = reopened->Gc({});
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_GE(gc->packs_compacted, 1u);
  EXPECT_EQ(ReadHeadFile(reopened.get(), "keep.pt"), keep);
}

// The contract of backend.h, held against the local backend.
TEST(PackBackendTest, LocalBackendKeepsTheContract) {
  TempDir dir;
  LocalPackBackend local(dir.path());
  ExpectBackendContract(local, "packs/00000003.pack");
}

TEST(PackBackendTest, ShortAppendIsWholeOrNothingAndTornLeavesAPrefix) {
  TempDir dir;
  FaultBackend faults(std::make_unique<LocalPackBackend>(dir.path()));
  ASSERT_TRUE(faults.Create(1).ok());
  std::string data(1000, 'x');
  struct iovec iov = {data.data(), data.size()};
  faults.Add({.op = FaultOp::kAppend, .kind = FaultRule::Kind::kShort, .error = ENOSPC});
  EXPECT_EQ(faults.Append(1, 0, &iov, 1).code(), Status::Code::kNoSpace);
  EXPECT_EQ(*faults.Size(1), 0u) << "a failed append leaves nothing";
  faults.Add({.op = FaultOp::kAppend, .kind = FaultRule::Kind::kTorn, .error = EIO});
  EXPECT_EQ(faults.Append(1, 0, &iov, 1).code(), Status::Code::kIOError);
  EXPECT_EQ(*faults.Size(1), 500u) << "a torn append leaves what a crash would";
  EXPECT_TRUE(faults.Append(1, 500, &iov, 1).ok()) << "rules fire once unless sticky";
  EXPECT_EQ(faults.fired(), 2u);
}

TEST(StoreUriTest, PicksTheBackendByScheme) {
  auto plain = ParseStoreUri("/var/tmp/s");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->scheme, StoreUri::Scheme::kFile);
  EXPECT_EQ(plain->path, "/var/tmp/s");
  EXPECT_EQ(ParseStoreUri("file:/x")->path, "/x");
  auto rados = ParseStoreUri("rados:pool/name");
  ASSERT_TRUE(rados.ok());
  EXPECT_EQ(rados->scheme, StoreUri::Scheme::kRados);
  EXPECT_EQ(rados->pool, "pool");
  EXPECT_EQ(rados->name, "name");
  EXPECT_FALSE(ParseStoreUri("rados:pool").ok());
  EXPECT_FALSE(ParseStoreUri("").ok());
  // A store on RADOS needs a cache directory (rados_store_test.cc has the rest).
  auto store = Store::Open("rados:pool/name", {});
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.status().message().find("--cache"), std::string::npos) << store.status().message();
}

}  // namespace
}  // namespace ciuicfs
