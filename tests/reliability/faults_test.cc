// Faults from below: power loss after an fsync, a full disk, and damaged
// store files (flipped byte, truncated pack, deleted pack, damaged LMDB
// page). Nothing that was durable is lost; damage reads as EIO, never as
// wrong bytes; verify names every damaged file; the daemon keeps serving.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/ingest/chunker.h"
#include "tests/fs/mount_util.h"
#include "tests/reliability/reliability_util.h"

namespace ciuicfs::testing {
namespace {

namespace fs = std::filesystem;

Snapshot Save(Store* store, const std::string& path, const std::string& data, bool durable) {
  return CommitFile(store, path, data, std::nullopt, durable);
}

// Power loss: everything written after a durable commit returned never
// reached the disk. Modelled by copying the store's files at the moment the
// durable commit returns (all of it is on disk then: the commit synced the
// packs and LMDB) and putting that copy back after later, non-durable saves
// and an unfinished ingest. A second case keeps the later pack bytes but
// not the index (packs outran LMDB); tests/store/crash_test.cc has the
// opposite order (the index outran the packs).
TEST(PowerLossTest, EverythingAfterADurableCommitLostLeavesTheDurableState) {
  TempDir dir;
  const std::string path = dir.Sub("s"), image = dir.Sub("image");
  const std::string before = RandomBytes(1, 2 << 20), durable = RandomBytes(2, 3 << 20);
  {
    auto store = OpenStore(path);
    Save(store.get(), "a.bin", before, false);
    Save(store.get(), "b.bin", durable, true);
    fs::copy(path, image, fs::copy_options::recursive);  // the disk at this moment
    for (int i = 0; i < 3; ++i) Save(store.get(), "c" + std::to_string(i) + ".bin", RandomBytes(10 + i, 1 << 20), false);
    auto unfinished = store->NewIngest();
    std::string more = RandomBytes(20, 4 << 20);
    ASSERT_TRUE(unfinished->Append(more.data(), more.size()).ok());
  }
  int cases = 0;
  for (bool keep_later_pack_bytes : {false, true}) {
    const std::string lost = dir.Sub("lost" + std::to_string(cases++));
    fs::copy(image, lost, fs::copy_options::recursive);
    if (keep_later_pack_bytes)  // later pack bytes reached the disk, the index did not
      for (const auto& e : fs::directory_iterator(path + "/packs"))
        fs::copy_file(e.path(), lost + "/packs/" + e.path().filename().string(), fs::copy_options::overwrite_existing);
    auto store = OpenStore(lost);
    auto head = store->Head();
    ASSERT_TRUE(head.ok() && head->has_value());
    EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), **head, "a.bin")), before);
    EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), **head, "b.bin")), durable);
    EXPECT_TRUE(VersionIn(store.get(), **head, "c0.bin").IsZero()) << "a save after the fsync survived";
    auto report = store->Verify();
    ASSERT_TRUE(report.ok());
    for (const std::string& p : report->problems) ADD_FAILURE() << p;
    // Saving goes on, and what was saved before the loss dedups.
    Snapshot again = Save(store.get(), "b2.bin", durable, true);
    EXPECT_EQ(again.bytes_added, 0u);
  }
}

// A 40 MiB tmpfs holds the store; a ballast file takes some of it.
class DiskFullTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = FuseUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
    small_ = dir_.Sub("small");
    mkdir(small_.c_str(), 0700);
    if (mount("tmpfs", small_.c_str(), "tmpfs", 0, "size=40m,mode=0700") != 0)
      GTEST_SKIP() << "skipping: cannot mount a small tmpfs (" << strerror(errno) << "); needs root";
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(small_.c_str(), MNT_DETACH);
  }
  TempDir dir_;
  std::string small_;
  bool mounted_ = false;
};

// Writes `data` to `path`; returns 0 or the errno of the first failing
// write() or close().
int SaveFile(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return errno;
  int err = 0;
  for (size_t off = 0; off < data.size() && !err; off += 1 << 20)
    if (write(fd, data.data() + off, std::min<size_t>(1 << 20, data.size() - off)) < 0) err = errno;
  if (close(fd) != 0 && !err) err = errno;
  return err;
}

TEST_F(DiskFullTest, SaveFailsWithEnospcThenWorksWhenSpaceIsFreed) {
  const std::string ballast = small_ + "/ballast";
  ASSERT_EQ(SaveFile(ballast, std::string(12 << 20, 'b')), 0);
  Mount m(dir_.Sub("mnt"), small_ + "/store");
  ASSERT_TRUE(m.Start());
  const std::string a = RandomBytes(1, 4 << 20);
  ASSERT_EQ(SaveFile(m.At("a.bin"), a), 0);

  int err = SaveFile(m.At("big.bin"), RandomBytes(2, 48 << 20));  // more than is left
  EXPECT_EQ(err, ENOSPC) << strerror(err);
  EXPECT_EQ(Diff(ReadFile(m.At("a.bin")), a), "same");
  EXPECT_EQ(Diff(ReadFile(m.At("@latest/a.bin")), a), "same");
  struct stat st;
  EXPECT_EQ(stat(m.At("@history").c_str(), &st), 0) << "the daemon stopped serving";

  unlink(m.At("big.bin").c_str());  // what a trainer's cleanup does; may fail on a full disk
  ASSERT_EQ(unlink(ballast.c_str()), 0);
  const std::string c = RandomBytes(3, 6 << 20);
  ASSERT_EQ(SaveFile(m.At("c.bin"), c), 0) << "saving did not resume after space was freed";
  EXPECT_EQ(Diff(ReadFile(m.At("@latest/c.bin")), c), "same");
  EXPECT_EQ(Diff(ReadFile(m.At("a.bin")), a), "same");
  m.Unmount();
  ASSERT_TRUE(m.Start());  // and after a restart
  EXPECT_EQ(Diff(ReadFile(m.At("c.bin")), c), "same");
  CommandResult v = RunCiuicfs("verify '" + m.path() + "'", dir_.path());
  EXPECT_EQ(v.code, 0) << v.out << v.err;
  m.Unmount();
}

// The errno of reading the whole file, 0 when it read back as `want`, -1
// when it read back as something else (wrong bytes: never acceptable).
int ReadErrno(const std::string& path, const std::string& want) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return errno;
  std::string got;
  char buf[1 << 16];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) got.append(buf, size_t(n));
  int err = n < 0 ? errno : 0;
  close(fd);
  if (err) return err;
  return got == want ? 0 : -1;
}

std::vector<uint32_t> PackNumbers(const std::string& store) {
  std::vector<uint32_t> out;
  for (const auto& e : fs::directory_iterator(store + "/packs")) out.push_back(uint32_t(std::stoul(e.path().stem())));
  std::sort(out.begin(), out.end());
  return out;
}

std::string PackPath(const std::string& store, uint32_t n) {
  char name[32];
  std::snprintf(name, sizeof(name), "%08u.pack", n);
  return store + "/packs/" + name;
}

TEST(CorruptionTest, DamageReadsAsEioAndVerifyNamesEveryFile) {
  std::string why = FuseUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
  TempDir dir;
  const std::string store_dir = dir.Sub("store");
  std::map<std::string, std::string> content;
  std::map<std::string, std::vector<uint32_t>> packs_of;  // each file's own packs
  {
    StoreOptions small_packs;
    small_packs.pack_target_size = 64 << 10;  // one chunk per pack: damage hits one file
    auto store = OpenStore(store_dir, small_packs);
    uint64_t seed = 1;
    for (const char* name : {"flipped.bin", "truncated.bin", "deleted.bin", "intact.bin", "lmdb.bin"}) {
      auto before = PackNumbers(store_dir);
      content[name] = RandomBytes(seed++, 2 << 20);
      Save(store.get(), name, content[name], true);
      for (uint32_t p : PackNumbers(store_dir))
        if (!std::binary_search(before.begin(), before.end(), p)) packs_of[name].push_back(p);
      ASSERT_GE(packs_of[name].size(), 2u) << name;
    }
  }
  // The damage: one kind per file.
  FlipByte(PackPath(store_dir, packs_of["flipped.bin"][0]), 16 + 64 + 1000);
  const std::string trunc = PackPath(store_dir, packs_of["truncated.bin"].back());
  ASSERT_EQ(truncate(trunc.c_str(), off_t(FileSize(trunc) / 2)), 0);
  ASSERT_EQ(unlink(PackPath(store_dir, packs_of["deleted.bin"][0]).c_str()), 0);
  {  // a damaged LMDB page: every copy of lmdb.bin's first chunk id in the
     // index file (its chunk row key and its manifest entry) gets a flipped byte
    Chunker chunker(ChunkerParams{});
    const auto* p = reinterpret_cast<const uint8_t*>(content["lmdb.bin"].data());
    size_t len = chunker.NextBoundary(p, content["lmdb.bin"].size());
    const std::string id = Hash128::Of(p, len).Bytes();
    std::string mdb;
    {
      std::ifstream in(store_dir + "/index/data.mdb", std::ios::binary);
      ASSERT_TRUE(in) << "no index/data.mdb";
      std::stringstream ss;
      ss << in.rdbuf();
      mdb = ss.str();
    }
    int hits = 0;
    for (size_t at = mdb.find(id); at != std::string::npos; at = mdb.find(id, at + 1), ++hits)
      FlipByte(store_dir + "/index/data.mdb", at + 7, 0x40);
    ASSERT_GE(hits, 2) << "the id was not found in the index file";
  }

  Mount m(dir.Sub("mnt"), store_dir);
  ASSERT_TRUE(m.Start()) << "the mount refused a damaged store";
  for (int pass = 0; pass < 2; ++pass) {  // twice: the daemon survives its first answers
    EXPECT_EQ(ReadErrno(m.At("intact.bin"), content["intact.bin"]), 0);
    for (const char* name : {"flipped.bin", "truncated.bin", "deleted.bin", "lmdb.bin"}) {
      int err = ReadErrno(m.At(name), content[name]);
      EXPECT_EQ(err, EIO) << name << ": " << (err > 0 ? strerror(err) : err < 0 ? "WRONG BYTES" : "read fine");
      err = ReadErrno(m.At(std::string("@latest/") + name), content[name]);
      EXPECT_EQ(err, EIO) << "@latest/" << name;
    }
  }
  CommandResult v = RunCiuicfs("verify '" + m.path() + "'", dir.path());
  EXPECT_NE(v.code, 0);
  for (const char* name : {"flipped.bin", "truncated.bin", "deleted.bin", "lmdb.bin"})
    EXPECT_NE(v.out.find(name), std::string::npos) << "verify does not name " << name << ":\n" << v.out << v.err;
  EXPECT_EQ(v.out.find("intact.bin"), std::string::npos) << v.out;
  // Still serving, and still saving.
  const std::string fresh = RandomBytes(99, 1 << 20);
  EXPECT_TRUE(WriteFile(m.At("fresh.bin"), fresh));
  EXPECT_EQ(Diff(ReadFile(m.At("@latest/fresh.bin")), fresh), "same");
  m.Unmount();
}

}  // namespace
}  // namespace ciuicfs::testing
