// 8 writers saving tmp-then-rename and 4 readers reading the live tree,
// @latest and older snapshots, for a while (CIUICFS_LONG: 5 minutes). Every
// file a reader opens under a final name holds one whole version; at the
// end the newest version of every file is there and verify is clean. Run
// it under ThreadSanitizer with scripts/reliability.sh --tsan.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "tests/fs/mount_util.h"
#include "tests/reliability/reliability_util.h"

namespace ciuicfs::testing {
namespace {

constexpr int kWriters = 8;
constexpr int kReaders = 4;
constexpr int kFilesPerWriter = 3;

TEST(ConcurrencyTest, EightWritersFourReaders) {
  std::string why = FuseUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
  TempDir dir;
  Mount m(dir.Sub("mnt"), dir.Sub("store"));
  ASSERT_TRUE(m.Start());
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(Scaled(12, 300));
  std::atomic<long> saves{0}, reads{0}, snapshot_reads{0}, torn{0}, write_errors{0};
  std::vector<std::vector<uint64_t>> last(kWriters, std::vector<uint64_t>(kFilesPerWriter, 0));

  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      const std::string d = m.At("w" + std::to_string(w));
      if (mkdir(d.c_str(), 0755) != 0) ++write_errors;
      std::mt19937_64 rng(w);
      for (uint64_t k = 1; std::chrono::steady_clock::now() < until; ++k) {
        const int f = int(k % kFilesPerWriter);
        const uint64_t seed = (uint64_t(w) << 40) | k;
        const std::string name = d + "/f" + std::to_string(f);
        if (!WriteFile(name + ".tmp", SelfChecking(seed, 4096 + rng() % (1 << 20))) ||
            rename((name + ".tmp").c_str(), (name + ".bin").c_str()) != 0) {
          ++write_errors;
          continue;
        }
        last[size_t(w)][size_t(f)] = seed;
        ++saves;
      }
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      std::mt19937_64 rng(100 + r);
      while (std::chrono::steady_clock::now() < until) {
        const std::string rel = "w" + std::to_string(rng() % kWriters) + "/f" + std::to_string(rng() % kFilesPerWriter) + ".bin";
        std::string where = rng() % 2 ? rel : "@latest/" + rel;
        if (rng() % 8 == 0) {  // an older snapshot, through @history
          DIR* h = opendir(m.At("@history").c_str());
          std::vector<std::string> names;
          while (struct dirent* e = h ? readdir(h) : nullptr)
            if (e->d_name[0] != '.') names.push_back(e->d_name);
          if (h) closedir(h);
          if (names.empty()) continue;
          where = "@history/" + names[rng() % names.size()] + "/" + rel;
          ++snapshot_reads;
        }
        std::string got = ReadFile(m.At(where));
        if (got == "<missing>") continue;  // not saved yet at that point
        ++reads;
        if (!IsWholeSelfChecking(got)) {
          ++torn;
          ADD_FAILURE() << where << ": not one whole version (" << got.size() << " bytes)";
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(write_errors.load(), 0);
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 20);  // the readers ran (thousands normally; ~100 under TSan)
  for (int w = 0; w < kWriters; ++w)
    for (int f = 0; f < kFilesPerWriter; ++f) {
      const std::string rel = "w" + std::to_string(w) + "/f" + std::to_string(f) + ".bin";
      std::string got = ReadFile(m.At("@latest/" + rel));
      ASSERT_TRUE(IsWholeSelfChecking(got)) << rel;
      uint64_t seed = 0;
      for (int i = 0; i < 8; ++i) seed |= uint64_t(uint8_t(got[size_t(i)])) << (8 * i);
      EXPECT_EQ(seed, last[size_t(w)][size_t(f)]) << rel << ": not the newest save";
    }
  CommandResult v = RunCiuicfs("verify '" + m.path() + "'", dir.path());
  EXPECT_EQ(v.code, 0) << v.out << v.err;
  std::printf("concurrency: %d writers, %d readers: %ld saves, %ld reads (%ld from @history), 0 torn\n", kWriters,
              kReaders, saves.load(), reads.load(), snapshot_reads.load());
}

}  // namespace
}  // namespace ciuicfs::testing
