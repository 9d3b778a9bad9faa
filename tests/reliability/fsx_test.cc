// A file-system exerciser in the manner of fsx: random writes (past the end,
// leaving holes), truncates (shrink and grow), reads, mmap reads, fsyncs and
// close/reopen cycles (each close commits a version) on files of the live
// tree, every read compared with an in-memory model of what the file must
// hold; after each close, @latest must hold the same; after a remount too.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <random>

#include "tests/fs/mount_util.h"
#include "tests/reliability/reliability_util.h"

namespace ciuicfs::testing {
namespace {

constexpr size_t kMaxFile = 4 << 20;

struct ModelFile {
  std::string name;
  std::string data;  // what the file must hold
  int fd = -1;
};

// "" when the bytes at [off, off+n) of the file read back as the model says.
std::string CheckRead(const ModelFile& f, uint64_t off, size_t n, bool via_mmap) {
  size_t want_n = off >= f.data.size() ? 0 : std::min(n, f.data.size() - off);
  std::string got(n, '\0');
  if (via_mmap) {
    if (want_n == 0) return "";
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    const uint64_t base = off / page * page;
    const size_t len = size_t(off - base) + want_n;
    void* p = mmap(nullptr, len, PROT_READ, MAP_SHARED, f.fd, off_t(base));
    if (p == MAP_FAILED) return std::string("mmap: ") + strerror(errno);
    std::memcpy(got.data(), static_cast<char*>(p) + (off - base), want_n);
    munmap(p, len);
    got.resize(want_n);
  } else {
    ssize_t r = pread(f.fd, got.data(), n, off_t(off));
    if (r < 0) return std::string("pread: ") + strerror(errno);
    got.resize(size_t(r));
  }
  std::string d = Diff(got, f.data.substr(size_t(std::min<uint64_t>(off, f.data.size())), want_n));
  return d == "same" ? "" : d;
}

TEST(FsxTest, RandomOperationsMatchTheModel) {
  std::string why = FuseUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
  TempDir dir;
  const std::string mnt = dir.Sub("mnt");
  Mount m(mnt, dir.Sub("store"));
  ASSERT_TRUE(m.Start());
  const int ops = Scaled(20000, 300000);
  std::mt19937_64 rng(8);
  std::array<ModelFile, 2> files{ModelFile{"fsx0.bin", "", -1}, ModelFile{"fsx1.bin", "", -1}};
  std::array<int, 7> counts{};  // write, truncate, read, mmap read, fsync, reopen, stat
  for (ModelFile& f : files) {
    f.fd = open(m.At(f.name).c_str(), O_RDWR | O_CREAT, 0644);
    ASSERT_GE(f.fd, 0);
  }
  for (int op = 0; op < ops; ++op) {
    ModelFile& f = files[rng() % files.size()];
    const std::string at = f.name + " op " + std::to_string(op);
    const size_t size = f.data.size();
    const int dice = int(rng() % 100);
    const int kind = dice < 35 ? 0 : dice < 45 ? 1 : dice < 70 ? 2 : dice < 82 ? 3 : dice < 86 ? 4 : dice < 96 ? 5 : 6;
    switch (kind) {
      case 0: {  // write, possibly past the end
        uint64_t off = rng() % (size + (64 << 10));
        size_t n = rng() % 8 == 0 ? 1 + rng() % (1 << 20) : 1 + rng() % (64 << 10);
        if (off + n > kMaxFile) off = rng() % (kMaxFile / 2);
        std::string bytes = RandomBytes(rng(), n);
        ASSERT_EQ(pwrite(f.fd, bytes.data(), n, off_t(off)), ssize_t(n)) << at << ": " << strerror(errno);
        if (f.data.size() < off + n) f.data.resize(off + n, '\0');
        f.data.replace(off, n, bytes);
        ++counts[0];
        break;
      }
      case 1: {  // truncate: shrink, grow (a hole), or to zero
        size_t to = rng() % 4 == 0 ? 0 : size_t(rng() % (size + (256 << 10)));
        to = std::min(to, kMaxFile);
        ASSERT_EQ(ftruncate(f.fd, off_t(to)), 0) << at << ": " << strerror(errno);
        f.data.resize(to, '\0');
        ++counts[1];
        break;
      }
      case 2:
      case 3: {  // read or mmap read, sometimes across the end
        uint64_t off = rng() % (size + 4096);
        size_t n = 1 + rng() % (256 << 10);
        std::string bad = CheckRead(f, off, n, kind == 3);
        ASSERT_EQ(bad, "") << at << (kind == 3 ? " (mmap)" : "") << " off " << off << " n " << n;
        ++counts[kind];
        break;
      }
      case 4:
        ASSERT_EQ(fsync(f.fd), 0) << at << ": " << strerror(errno);
        ++counts[4];
        break;
      case 5: {  // close (commits a version), then @latest and a reopen must agree
        ASSERT_EQ(close(f.fd), 0) << at << ": " << strerror(errno);
        ASSERT_EQ(Diff(ReadFile(m.At("@latest/" + f.name)), f.data), "same") << at << " @latest";
        f.fd = open(m.At(f.name).c_str(), O_RDWR);
        ASSERT_GE(f.fd, 0) << at;
        ASSERT_EQ(CheckRead(f, 0, f.data.size() + 1, false), "") << at << " after reopen";
        ++counts[5];
        break;
      }
      default: {
        struct stat st;
        ASSERT_EQ(fstat(f.fd, &st), 0);
        ASSERT_EQ(uint64_t(st.st_size), f.data.size()) << at;
        ++counts[6];
      }
    }
  }
  for (ModelFile& f : files) ASSERT_EQ(close(f.fd), 0);
  m.Unmount();
  ASSERT_TRUE(m.Start());
  for (ModelFile& f : files) EXPECT_EQ(Diff(ReadFile(m.At(f.name)), f.data), "same") << f.name << " after remount";
  std::printf("fsx: %d operations: %d writes, %d truncates, %d reads, %d mmap reads, %d fsyncs, %d close+reopen, "
              "%d stats; no mismatch\n",
              ops, counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6]);
}

}  // namespace
}  // namespace ciuicfs::testing
