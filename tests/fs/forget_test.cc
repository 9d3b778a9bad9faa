// FUSE FORGET (fs/filesystem.h, "Inodes"): the daemon's memory follows
// what the kernel holds. Run alone (RUN_SERIAL): it drops the kernel's
// caches, and another test's drop would empty them under this one.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/fs/mount_fixture.h"
#include "tests/fs/mount_util.h"

namespace ciuicfs::testing {
namespace {

class ForgetTest : public MountedTest {};

// The daemon forgets the inodes the kernel forgets: 200,000 distinct paths
// of the @ trees looked up, then dropped from the kernel's caches, leave
// its memory within 32 MiB of where it started.
TEST_F(ForgetTest, ForgottenInodesGiveTheirMemoryBack) {
  if (geteuid() != 0) GTEST_SKIP() << "skipping: dropping the kernel's caches needs root";
  auto rss_kib = [&] {
    std::ifstream in("/proc/" + std::to_string(mount_->pid()) + "/status");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1L;
  };
  auto drop_caches = [] {
    sync();
    std::ofstream("/proc/sys/vm/drop_caches") << "2\n";
  };
  constexpr int kFiles = 640;  // 640 snapshots, the k-th holding k files: 205,120 paths
  ASSERT_EQ(mkdir(M("d").c_str(), 0755), 0);
  for (int i = 0; i < kFiles; ++i) ASSERT_TRUE(WriteFile(M("d/f" + std::to_string(i)), "x"));
  std::vector<std::string> snaps;
  {
    DIR* dd = opendir(M("@history").c_str());
    ASSERT_TRUE(dd);
    while (struct dirent* e = readdir(dd))
      if (e->d_name[0] != '.') snaps.push_back(e->d_name);
    closedir(dd);
  }
  ASSERT_GE(snaps.size(), size_t(kFiles));
  drop_caches();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const long start = rss_kib();
  ASSERT_GT(start, 0);
  size_t looked_up = 0;
  struct stat st;
  for (const std::string& snap : snaps)
    for (int i = 0; i < kFiles; ++i)
      if (lstat(M("@history/" + snap + "/d/f" + std::to_string(i)).c_str(), &st) == 0) ++looked_up;
  EXPECT_GE(looked_up, size_t(200000));
  const long peak = rss_kib();
  drop_caches();  // the kernel forgets its dentries and inodes: FORGETs
  long after = rss_kib();
  for (int k = 0; k < 50 && after > start + 32 * 1024; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = rss_kib();
  }
  std::printf("daemon RSS: %ld KiB at the start, %ld after %zu lookups, %ld once forgotten\n", start, peak, looked_up,
              after);
  EXPECT_GT(peak, start + 32 * 1024) << "the lookups should have held more than the bound";
  EXPECT_LE(after, start + 32 * 1024);
  // What was forgotten is found again.
  EXPECT_EQ(ReadFile(M("@history/" + snaps.back() + "/d/f0")), "x");
}

}  // namespace
}  // namespace ciuicfs::testing
