#include "store/store.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/stat.h>

#include <map>
#include <random>
#include <thread>

#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

TEST(StoreTest, CommitThenReadBackBitExact) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  std::string model = RandomBytes(1, (5 << 20) + 12345);
  Snapshot s1 = CommitFile(store.get(), "run/model.pt", model, 100);
  EXPECT_EQ(s1.seq, 1u);
  EXPECT_TRUE(s1.parent.IsZero());
  EXPECT_EQ(s1.step, 100);
  VersionId v = VersionIn(store.get(), s1, "run/model.pt");
  EXPECT_EQ(v, Hash128::Of(model));  // a version is named by its bytes
  EXPECT_EQ(ReadVersion(store.get(), v), model);
  // The parent directory appears in the tree.
  auto tree = store->GetTree(s1.tree);
  ASSERT_TRUE(tree.ok());
  ASSERT_EQ(tree->size(), 2u);
  EXPECT_EQ((*tree)[0].path, "run");
  EXPECT_EQ((*tree)[0].kind, EntryKind::kDirectory);
  EXPECT_EQ((*tree)[1].size, model.size());
}

TEST(StoreTest, ReadsAtAnyOffsetCrossChunks) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  std::string data = RandomBytes(2, 7 << 20);
  Snapshot s = CommitFile(store.get(), "f", data);
  auto reader = store->OpenVersion(VersionIn(store.get(), s, "f"));
  ASSERT_TRUE(reader.ok());
  EXPECT_GT((*reader)->manifest().chunks.size(), 10u);
  std::mt19937_64 rng(3);
  for (int i = 0; i < 200; ++i) {
    uint64_t off = rng() % (data.size() + 100);
    size_t n = 1 + rng() % (3 << 20);
    std::string buf(n, '\0');
    auto got = (*reader)->Read(off, n, buf.data());
    ASSERT_TRUE(got.ok());
    size_t want = off >= data.size() ? 0 : std::min<uint64_t>(n, data.size() - off);
    ASSERT_EQ(*got, want);
    ASSERT_EQ(buf.substr(0, want), data.substr(std::min<uint64_t>(off, data.size()), want));
  }
}

TEST(StoreTest, TenSavesOfIdenticalContentStoreBytesOnce) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  std::string data = RandomBytes(3, 20 << 20);
  Snapshot first = CommitFile(store.get(), "latest.pt", data, 1);
  uint64_t stored = store->Stats()->stored_bytes;
  EXPECT_GE(stored, data.size());
  EXPECT_LT(stored, data.size() + data.size() / 50);  // headers are small
  EXPECT_EQ(first.bytes_added, stored - kPackHeaderSize);
  for (int i = 2; i <= 10; ++i) {
    Snapshot s = CommitFile(store.get(), "latest.pt", data, i);
    EXPECT_EQ(s.bytes_added, 0u);
  }
  auto st = store->Stats();
  EXPECT_EQ(st->stored_bytes, stored);
  EXPECT_EQ(st->snapshots, 10u);
  EXPECT_EQ(st->versions, 1u);
  // Saved under another name, still no new bytes.
  Snapshot other = CommitFile(store.get(), "copy/of/latest.pt", data);
  EXPECT_EQ(other.bytes_added, 0u);
  EXPECT_EQ(store->Stats()->stored_bytes, stored);
}

TEST(StoreTest, ChainStepsAndLookups) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  Snapshot a = CommitFile(store.get(), "ckpt.pt", RandomBytes(1, 1000), 100);
  Snapshot b = CommitFile(store.get(), "ckpt.pt", RandomBytes(2, 1000));  // inherits 100
  Snapshot c = CommitFile(store.get(), "ckpt.pt", RandomBytes(3, 1000), 200);
  EXPECT_EQ(b.parent, a.id);
  EXPECT_EQ(c.parent, b.id);
  EXPECT_EQ(b.step, 100);
  EXPECT_EQ(c.seq, 3u);
  EXPECT_EQ(store->FindByStep(100)->seq, 2u);  // the newest with that step
  EXPECT_EQ(store->FindByStep(200)->id, c.id);
  EXPECT_TRUE(store->FindByStep(150).status().IsNotFound());
  EXPECT_EQ(store->FindByIdPrefix(c.id.Hex().substr(0, 8))->seq, 3u);
  EXPECT_EQ(store->FindByIdPrefix(c.id.Hex())->seq, 3u);
  EXPECT_EQ(store->FindByIdPrefix("abc").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store->FindByIdPrefix("zzzzzzzz").status().code(), Status::Code::kInvalidArgument);
  std::string absent = c.id.Hex().substr(0, 8);
  absent[0] = absent[0] == 'f' ? '0' : char(absent[0] == '9' ? 'a' : absent[0] + 1);
  if (absent != a.id.Hex().substr(0, 8) && absent != b.id.Hex().substr(0, 8))
    EXPECT_TRUE(store->FindByIdPrefix(absent).status().IsNotFound());
  auto head = store->Head();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->id, c.id);
  auto all = store->ListSnapshots();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].id, a.id);
}

TEST(StoreTest, AmbiguousIdPrefixIsRejected) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  // With enough snapshots two share their first hex digits; find a pair.
  std::map<std::string, int> first8;
  std::string shared;
  for (int i = 0; i < 400 && shared.empty(); ++i) {
    Snapshot s = CommitFile(store.get(), "f", RandomBytes(i, 16));
    std::string p = s.id.Hex().substr(0, 2);
    if (++first8[p] == 2) shared = p;
  }
  ASSERT_FALSE(shared.empty());
  // Prefixes shorter than 8 digits are refused outright...
  EXPECT_EQ(store->FindByIdPrefix(shared).status().code(), Status::Code::kInvalidArgument);
  // ...and an 8-digit prefix matching one snapshot is accepted.
  auto head = store->Head();
  EXPECT_TRUE(store->FindByIdPrefix((*head)->id.Hex().substr(0, 8)).ok());
}

TEST(StoreTest, RemovedFileKeepsHistory) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  std::string v1 = RandomBytes(1, 5000), v2 = RandomBytes(2, 6000);
  Snapshot s1 = CommitFile(store.get(), "a.pt", v1);
  CommitFile(store.get(), "a.pt", v2);
  CommitRequest rm;
  rm.edits.push_back(TreeEdit::Remove("a.pt"));
  auto s3 = store->Commit(rm);
  ASSERT_TRUE(s3.ok());
  EXPECT_TRUE(store->GetTree(s3->tree)->empty());
  auto hist = store->PathHistory("a.pt");
  ASSERT_TRUE(hist.ok());
  ASSERT_EQ(hist->size(), 3u);
  EXPECT_EQ((*hist)[0].second.version, Hash128::Of(v1));
  EXPECT_EQ((*hist)[1].second.size, v2.size());
  EXPECT_EQ((*hist)[2].second.kind, ChangeKind::kRemove);
  EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), s1, "a.pt")), v1);
  // Removing what is not there changes nothing.
  EXPECT_TRUE(store->Commit(rm).status().IsNotFound());
  EXPECT_EQ((*store->Head())->seq, 3u);
}

TEST(StoreTest, PutExistingVersionAddsNoBytes) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  std::string old = RandomBytes(1, 3 << 20);
  Snapshot s1 = CommitFile(store.get(), "x.pt", old, 1);
  CommitFile(store.get(), "x.pt", RandomBytes(2, 3 << 20), 2);
  uint64_t before = store->Stats()->stored_bytes;
  CommitRequest req;  // roll back x.pt to step 1's version
  req.edits.push_back(TreeEdit::PutExisting("x.pt", 0644, 5, VersionIn(store.get(), s1, "x.pt")));
  auto s3 = store->Commit(req);
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(s3->bytes_added, 0u);
  EXPECT_EQ(store->Stats()->stored_bytes, before);
  EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), *s3, "x.pt")), old);
}

TEST(StoreTest, ReopenKeepsEverythingAndLocksOutASecondOpener) {
  TempDir dir;
  std::string data = RandomBytes(9, 2 << 20);
  Hash128 id;
  {
    auto store = OpenStore(dir.Sub("s"));
    id = CommitFile(store.get(), "m", data, 5).id;
    auto second = Store::Open(dir.Sub("s"), {});
    EXPECT_EQ(second.status().code(), Status::Code::kBusy);
    EXPECT_NE(second.status().message().find("in use"), std::string::npos);
    // The refused opener left the first one's lock in place: another
    // process is refused too (a POSIX lock would go with any close of LOCK).
    pid_t pid = fork();
    if (pid == 0) _exit(Store::Open(dir.Sub("s"), {}).status().code() == Status::Code::kBusy ? 0 : 1);
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "another process opened the store beside us";
  }
  auto store = OpenStore(dir.Sub("s"));
  auto head = store->Head();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->id, id);
  EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), **head, "m")), data);
}

TEST(StoreTest, RefusesADirectoryThatIsNotAStore) {
  TempDir dir;
  ASSERT_EQ(system(("echo hi > " + dir.Sub("notes.txt")).c_str()), 0);
  auto s = Store::Open(dir.path(), {});
  EXPECT_EQ(s.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.status().message().find("not a ciuicfs store"), std::string::npos);
  StoreOptions no_create;
  no_create.create_if_missing = false;
  EXPECT_TRUE(Store::Open(dir.Sub("absent"), no_create).status().IsNotFound());
}

TEST(StoreTest, StoreFilesArePrivate) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  CommitFile(store.get(), "f", "x");
  struct stat st;
  ASSERT_EQ(stat(dir.Sub("s").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat(dir.Sub("s/packs/00000001.pack").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(dir.Sub("s/index/data.mdb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(StoreTest, GrowsPastTheInitialMapSize) {
  TempDir dir;
  StoreOptions opts;
  opts.initial_map_size = 512 << 10;
  std::vector<std::string> contents;
  {
    auto store = OpenStore(dir.Sub("s"), opts);
    const uint64_t initial = store->map_size();
    // ~3000 versions with small chunks: several MiB of index.
    for (int i = 0; i < 60; ++i) {
      CommitRequest req;
      std::vector<PendingVersion> versions;
      versions.reserve(50);
      for (int j = 0; j < 50; ++j) {
        contents.push_back(RandomBytes(i * 100 + j, 300));
        versions.push_back(Ingest(store.get(), contents.back()));
        req.edits.push_back(TreeEdit::PutFile("d" + std::to_string(i) + "/f" + std::to_string(j), 0644, 1, &versions.back()));
      }
      auto s = store->Commit(req);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
    }
    EXPECT_GT(store->map_size(), initial);
  }
  auto store = OpenStore(dir.Sub("s"), opts);
  auto head = store->Head();
  auto tree = store->GetTree((*head)->tree);
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(tree->size(), 60u * 51u);
  EXPECT_EQ(ReadVersion(store.get(), Hash128::Of(contents[1234])), contents[1234]);
  EXPECT_TRUE(store->Verify()->ok());
}

TEST(StoreTest, ConcurrentIngestsOfOverlappingContent) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  std::string shared = RandomBytes(77, 6 << 20);
  std::vector<std::thread> threads;
  std::vector<std::string> datas(4);
  for (int t = 0; t < 4; ++t) {
    datas[t] = shared + RandomBytes(t, 2 << 20);
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        PendingVersion v = Ingest(store.get(), datas[t], 100000 + t);
        CommitRequest req;
        req.edits.push_back(TreeEdit::PutFile("w" + std::to_string(t), 0644, 1, &v));
        auto s = store->Commit(req);
        ASSERT_TRUE(s.ok()) << s.status().ToString();
      }
    });
  }
  for (auto& th : threads) th.join();
  auto report = store->Verify();
  ASSERT_TRUE(report.ok());
  for (auto& p : report->problems) ADD_FAILURE() << p;
  auto head = store->Head();
  for (int t = 0; t < 4; ++t)
    EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), **head, "w" + std::to_string(t))), datas[t]);
  // The shared 6 MiB is stored about once, not four times.
  EXPECT_LT(store->Stats()->live_bytes, (6u << 20) * 2 + 4 * (3u << 20));
}

TEST(StoreTest, EmptyFileIsAVersion) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  Snapshot s = CommitFile(store.get(), "empty", "");
  VersionId v = VersionIn(store.get(), s, "empty");
  EXPECT_EQ(v, Hash128::Of(""));
  EXPECT_EQ(ReadVersion(store.get(), v), "");
}

}  // namespace
}  // namespace ciuicfs

namespace ciuicfs {
namespace {

TEST(StoreTest, UncommittedVersionReadsBack) {
  testing::TempDir dir;
  auto store = testing::OpenStore(dir.Sub("s"));
  std::string data = testing::RandomBytes(4, 3 << 20);
  PendingVersion v = testing::Ingest(store.get(), data);
  auto reader = store->OpenPending(v);
  std::string out(data.size(), '\0');
  auto n = reader->Read(0, out.size(), out.data());
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(out, data);
  EXPECT_FALSE(store->OpenVersion(v.id()).ok());  // not visible until committed
}

}  // namespace
}  // namespace ciuicfs

namespace ciuicfs {
namespace {

TEST(StoreTest, TagsAndReferences) {
  testing::TempDir dir;
  auto store = testing::OpenStore(dir.Sub("s"));
  Snapshot a = testing::CommitFile(store.get(), "m", "1", 100);
  Snapshot b = testing::CommitFile(store.get(), "m", "2", 200);
  Snapshot c = testing::CommitFile(store.get(), "m", "3", 200);
  ASSERT_TRUE(store->SetTag("best", a.seq).ok());
  EXPECT_EQ(store->ResolveRef("best")->seq, a.seq);
  EXPECT_EQ(store->ResolveRef("latest")->seq, c.seq);
  EXPECT_EQ(store->ResolveRef("latest~1")->seq, b.seq);
  EXPECT_TRUE(store->ResolveRef("latest~3").status().IsNotFound());
  EXPECT_EQ(store->ResolveRef("step-200")->seq, c.seq);
  EXPECT_EQ(store->ResolveRef(b.id.Hex().substr(0, 10))->seq, b.seq);
  EXPECT_TRUE(store->ResolveRef("nosuch").status().IsNotFound());
  EXPECT_EQ(store->ResolveRef("step-x").status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store->SetTag("latest", a.seq).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(store->SetTag("a b", a.seq).code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(store->SetTag("x", 99).IsNotFound());
  // A tag pins its snapshot against dropping.
  EXPECT_EQ(store->DropSnapshots({a.seq}).code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(store->DeleteTag("best").ok());
  EXPECT_TRUE(store->DeleteTag("best").IsNotFound());
  EXPECT_TRUE(store->DropSnapshots({a.seq}).ok());
}

TEST(StoreTest, ReadOnlyOpenBesideTheOwner) {
  testing::TempDir dir;
  auto owner = testing::OpenStore(dir.Sub("s"));
  testing::CommitFile(owner.get(), "m", testing::RandomBytes(1, 1 << 20), 1);
  StoreOptions ro;
  ro.read_only = true;
  auto reader = Store::Open(dir.Sub("s"), ro);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->ListSnapshots()->size(), 1u);
  // The owner keeps writing, growing the index; the reader follows.
  for (int i = 2; i <= 30; ++i) testing::CommitFile(owner.get(), "f" + std::to_string(i), testing::RandomBytes(i, 5000), i);
  EXPECT_EQ((*reader)->ListSnapshots()->size(), 30u);
  EXPECT_EQ(testing::ReadVersion(reader->get(), Hash128::Of(testing::RandomBytes(7, 5000))), testing::RandomBytes(7, 5000));
  EXPECT_EQ((*reader)->SetTag("t", 1).code(), Status::Code::kReadOnly);
  EXPECT_EQ((*reader)->DropSnapshots({1}).code(), Status::Code::kReadOnly);
  auto ingest = (*reader)->NewIngest();
  std::string data = testing::RandomBytes(99, 2 << 20);
  Status s = ingest->Append(data.data(), data.size());
  auto v = s.ok() ? ingest->Finish() : Result<PendingVersion>(s);
  EXPECT_EQ(v.status().code(), Status::Code::kReadOnly);
  EXPECT_TRUE((*reader)->Verify()->ok());
}

}  // namespace
}  // namespace ciuicfs
