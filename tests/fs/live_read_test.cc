// Reads of a live file through a real mount (fs/README.md, "Live reads"):
// a read-only open of a file whose version is unchanged keeps the kernel's
// page cache, and every change of the version (an overwrite in place, a
// truncate, a rename over it, a rollback through the mount, a write beside
// a cached reader) is seen by
// the next open, never the old cached bytes; readers open beside a writer
// see its writes. Run on both write paths.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "tests/fs/mount_fixture.h"
#include "tests/fs/mount_util.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

class LiveReadTest : public MountedTest {};

// Overwrites `n` bytes at `off` of an existing file (no truncate).
bool Patch(const std::string& path, const std::string& bytes, off_t off) {
  int fd = open(path.c_str(), O_WRONLY);
  if (fd < 0) return false;
  bool ok = pwrite(fd, bytes.data(), bytes.size(), off) == ssize_t(bytes.size());
  return close(fd) == 0 && ok;
}

// The share of `path`'s pages in the page cache right after an open.
double ResidentAfterOpen(const std::string& path, size_t size) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return -1;
  void* p = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return -1;
  const size_t page = size_t(sysconf(_SC_PAGESIZE)), pages = (size + page - 1) / page;
  std::vector<unsigned char> in(pages);
  double share = -1;
  if (mincore(p, size, in.data()) == 0) {
    size_t n = 0;
    for (unsigned char c : in) n += c & 1;
    share = double(n) / double(pages);
  }
  munmap(p, size);
  return share;
}

TEST_F(LiveReadTest, AnUnchangedFileKeepsItsPageCacheAcrossOpens) {
  const std::string data = RandomBytes(7, 4 << 20);
  ASSERT_TRUE(WriteFile(M("weights.pt"), data));
  ASSERT_EQ(Diff(ReadFile(M("weights.pt")), data), "same");  // the first read fills the cache
  ASSERT_EQ(Diff(ReadFile(M("weights.pt")), data), "same");
  EXPECT_GT(ResidentAfterOpen(M("weights.pt"), data.size()), 0.9) << "a new open dropped the cached pages";
}

TEST_F(LiveReadTest, EveryChangeOfTheVersionIsSeenByTheNextOpen) {
  std::string data = RandomBytes(1, 3 << 20);
  ASSERT_TRUE(WriteFile(M("model.pt"), data));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Diff(ReadFile(M("model.pt")), data), "same") << "read " << i;
  // In place, at the start and past the first MiB.
  const std::string patch = RandomBytes(2, 8192);
  ASSERT_TRUE(Patch(M("model.pt"), patch, 4096));
  data.replace(4096, patch.size(), patch);
  EXPECT_EQ(Diff(ReadFile(M("model.pt")), data), "same") << "after an overwrite in place";
  EXPECT_EQ(Diff(ReadFile(M("model.pt")), data), "same");
  // The same size and, put back, the same mtime: only the version tells.
  struct stat st;
  ASSERT_EQ(stat(M("model.pt").c_str(), &st), 0);
  const std::string patch2 = RandomBytes(6, 8192);
  ASSERT_TRUE(Patch(M("model.pt"), patch2, 1 << 20));
  data.replace(1 << 20, patch2.size(), patch2);
  struct timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(utimensat(AT_FDCWD, M("model.pt").c_str(), times, 0), 0);
  EXPECT_EQ(Diff(ReadFile(M("model.pt")), data), "same") << "after an overwrite that kept size and mtime";
  // Truncated, then grown again with other bytes.
  ASSERT_EQ(truncate(M("model.pt").c_str(), 1 << 20), 0);
  data.resize(1 << 20);
  EXPECT_EQ(Diff(ReadFile(M("model.pt")), data), "same") << "after a truncate";
  // A rename over it (tmp-then-rename, as trainers save).
  const std::string next = RandomBytes(3, 2 << 20);
  ASSERT_TRUE(WriteFile(M("model.pt.tmp"), next));
  ASSERT_EQ(rename(M("model.pt.tmp").c_str(), M("model.pt").c_str()), 0);
  EXPECT_EQ(Diff(ReadFile(M("model.pt")), next), "same") << "after a rename over it";
  EXPECT_EQ(Diff(ReadFile(M("@latest/model.pt")), next), "same");
  // A rollback through the mount (the control socket) to the version
  // before: cached pages of the newer one are never read.
  CommandResult tag = RunCiuicfs("tag renamed latest --store '" + mount_->path() + "'", dir_.path());
  ASSERT_EQ(tag.code, 0) << tag.out << tag.err;
  const std::string last = RandomBytes(8, 2 << 20);
  ASSERT_TRUE(WriteFile(M("model.pt"), last));
  for (int i = 0; i < 2; ++i) ASSERT_EQ(Diff(ReadFile(M("model.pt")), last), "same");
  CommandResult rb = RunCiuicfs("rollback renamed --store '" + mount_->path() + "'", dir_.path());
  ASSERT_EQ(rb.code, 0) << rb.out << rb.err;
  EXPECT_EQ(Diff(ReadFile(M("model.pt")), next), "same") << "after a rollback through the mount";
  EXPECT_EQ(Diff(ReadFile(M("model.pt")), next), "same");
}

TEST_F(LiveReadTest, AWriteBesideAnOpenCachedReaderIsSeenByTheNextOpen) {
  std::string data = RandomBytes(4, 2 << 20);
  ASSERT_TRUE(WriteFile(M("state.json"), data));
  ASSERT_EQ(Diff(ReadFile(M("state.json")), data), "same");
  int r = open(M("state.json").c_str(), O_RDONLY);  // a cached reader stays open
  ASSERT_GE(r, 0);
  std::string buf(4096, '\0');
  ASSERT_EQ(pread(r, buf.data(), buf.size(), 0), ssize_t(buf.size()));
  const std::string patch = RandomBytes(5, 4096);
  ASSERT_TRUE(Patch(M("state.json"), patch, 0));
  data.replace(0, patch.size(), patch);
  // As on a local disk, the reader already open sees the write too.
  ASSERT_EQ(pread(r, buf.data(), buf.size(), 0), ssize_t(buf.size()));
  EXPECT_EQ(Diff(buf, patch), "same") << "the open reader, after the write";
  EXPECT_EQ(Diff(ReadFile(M("state.json")), data), "same") << "the next open after the write";
  close(r);
  EXPECT_EQ(Diff(ReadFile(M("state.json")), data), "same");
  Remount();
  EXPECT_EQ(Diff(ReadFile(M("state.json")), data), "same") << "after a remount";
}

// A trainer's save: the file's only handle, write-only (through the daemon
// it bypasses the kernel's page cache, fs/README.md "Live reads"). A
// reader opened while it writes sees every write, read or mapped, as on a
// local disk, before and after the close.
TEST_F(LiveReadTest, AReaderOpenedWhileAFileIsWrittenSeesEveryWrite) {
  const std::string path = M("ckpt.pt");
  int w = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(w, 0);
  const std::string a = RandomBytes(6, 3 << 20);
  ASSERT_EQ(pwrite(w, a.data(), a.size(), 0), ssize_t(a.size()));
  int r = open(path.c_str(), O_RDONLY);
  ASSERT_GE(r, 0);
  std::string got(a.size(), '\0');
  ASSERT_EQ(pread(r, got.data(), got.size(), 0), ssize_t(got.size()));
  EXPECT_EQ(Diff(got, a), "same") << "read while written";
#ifdef CIUICFS_SHARED_DIRECT_MMAP
  const int share = MAP_SHARED;  // libfuse >= 3.17 lets the mount allow it
#else
  const int share = MAP_PRIVATE;
#endif
  void* p = mmap(nullptr, a.size(), PROT_READ, share, r, 0);
  ASSERT_NE(p, MAP_FAILED) << std::strerror(errno);
  EXPECT_EQ(Diff(std::string(static_cast<const char*>(p), a.size()), a), "same") << "mapped while written";
  // The writer overwrites the first MiB and appends one.
  const std::string b = RandomBytes(7, 1 << 20), c = RandomBytes(8, 1 << 20);
  ASSERT_EQ(pwrite(w, b.data(), b.size(), 0), ssize_t(b.size()));
  ASSERT_EQ(pwrite(w, c.data(), c.size(), off_t(a.size())), ssize_t(c.size()));
  const std::string want = b + a.substr(b.size()) + c;
  struct stat st{};
  ASSERT_EQ(fstat(r, &st), 0);
  EXPECT_EQ(uint64_t(st.st_size), want.size());
  got.assign(want.size(), '\0');
  ASSERT_EQ(pread(r, got.data(), got.size(), 0), ssize_t(got.size()));
  EXPECT_EQ(Diff(got, want), "same") << "the open reader, after the overwrite";
  if (share == MAP_SHARED)
    EXPECT_EQ(Diff(std::string(static_cast<const char*>(p), b.size()), b), "same") << "the shared mapping";
  munmap(p, a.size());
  ASSERT_EQ(close(w), 0);
  got.assign(want.size(), '\0');
  ASSERT_EQ(pread(r, got.data(), got.size(), 0), ssize_t(got.size()));
  EXPECT_EQ(Diff(got, want), "same") << "the open reader, after the close";
  close(r);
  EXPECT_EQ(Diff(ReadFile(M("@latest/ckpt.pt")), want), "same");
  EXPECT_EQ(Diff(ReadFile(path), want), "same");
  Remount();
  EXPECT_EQ(Diff(ReadFile(path), want), "same") << "after a remount";
}

}  // namespace
}  // namespace ciuicfs
