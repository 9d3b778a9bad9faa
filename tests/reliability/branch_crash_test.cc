// kill -9 of the daemon while branches are created, deleted and switched
// through it (#20): after every remount each branch operation that was
// acknowledged holds, every one in flight left the store as before or as
// after, every save acknowledged on a branch is in that branch's head, and
// verify is clean.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "tests/fs/mount_util.h"
#include "tests/reliability/reliability_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

struct BranchLedger {
  std::mutex mu;
  std::set<std::string> created;        // acknowledged
  std::set<std::string> delete_tried;   // a delete was sent (acknowledged or not)
  std::set<std::string> deleted;        // acknowledged
  std::set<std::pair<std::string, std::string>> saved;  // (branch, file) acknowledged
};

TEST(BranchCrashTest, KillDuringBranchCreateDeleteAndSwitchLeavesBeforeOrAfter) {
  std::string why = FuseUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
  TempDir dir;
  const std::string store = dir.Sub("store"), mnt = dir.Sub("mnt");
  ASSERT_EQ(mkdir(mnt.c_str(), 0755), 0);
  const int rounds = Scaled(10, 60);
  BranchLedger ledger;
  std::mt19937 rng(20);
  int next = 0, checked = 0;
  for (int round = 0; round <= rounds; ++round) {
    Mount m(mnt, store);
    ASSERT_TRUE(m.Start()) << "round " << round;
    {
      std::lock_guard<std::mutex> lock(ledger.mu);
      CommandResult list = RunCiuicfs("branch --store " + mnt + " --json", dir.path());
      ASSERT_EQ(list.code, 0) << list.err;
      for (const std::string& b : ledger.created)
        if (!ledger.delete_tried.count(b))
          EXPECT_NE(list.out.find("\"name\":\"" + b + "\""), std::string::npos) << "round " << round << ": " << b;
      for (const std::string& b : ledger.deleted)
        EXPECT_EQ(list.out.find("\"name\":\"" + b + "\""), std::string::npos) << "round " << round << ": " << b;
      for (auto& [b, file] : ledger.saved) {
        if (ledger.delete_tried.count(b)) continue;
        EXPECT_EQ(ReadFile(m.At("@branch-" + b + "/" + file)), ContentFor(file)) << "round " << round << ": " << b;
        ++checked;
      }
      EXPECT_EQ(RunCiuicfs("verify " + mnt, dir.path()).code, 0) << "round " << round;
    }
    if (round == rounds) break;
    const std::string main_file = "m-" + std::to_string(round);  // something to fork from
    ASSERT_TRUE(WriteFile(m.At(main_file), ContentFor(main_file)));
    ledger.saved.insert({"main", main_file});
    std::atomic<bool> stop{false};
    std::thread ops([&] {
      auto run = [&](const std::string& args) { return RunCiuicfs(args + " --store " + mnt, dir.path()).code == 0; };
      while (!stop) {
        const std::string b = "b" + std::to_string(next++);
        if (!run("branch " + b)) break;
        {
          std::lock_guard<std::mutex> lock(ledger.mu);
          ledger.created.insert(b);
        }
        if (!run("switch " + b)) break;
        const std::string file = "f-" + b;
        if (!WriteFile(m.At(file), ContentFor(file))) break;
        {
          std::lock_guard<std::mutex> lock(ledger.mu);
          ledger.saved.insert({b, file});
        }
        if (!run("switch main")) break;
        const std::string old = "b" + std::to_string(next - 3);
        if (next >= 3 && !ledger.delete_tried.count(old)) {
          {
            std::lock_guard<std::mutex> lock(ledger.mu);
            ledger.delete_tried.insert(old);
          }
          if (!run("branch -d " + old)) break;
          std::lock_guard<std::mutex> lock(ledger.mu);
          ledger.deleted.insert(old);
        }
      }
    });
    // At least one operation acknowledged in every round, however slow the
    // machine; then the kill comes at a random moment of what follows.
    const size_t before = [&] {
      std::lock_guard<std::mutex> lock(ledger.mu);
      return ledger.created.size();
    }();
    for (int i = 0; i < 400; ++i) {
      {
        std::lock_guard<std::mutex> lock(ledger.mu);
        if (ledger.created.size() > before) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 400));
    m.KillHard();
    stop = true;
    ops.join();
  }
  std::printf("branch crash loop: %d rounds, %d branches made, %zu acknowledged, %zu deleted, %d saves checked\n",
              rounds, next, ledger.created.size(), ledger.deleted.size(), checked);
  EXPECT_GE(ledger.created.size(), size_t(rounds));  // at least one a round
  EXPECT_GT(checked, rounds);
}

}  // namespace
}  // namespace ciuicfs
