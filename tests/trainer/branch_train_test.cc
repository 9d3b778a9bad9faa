// A/B training on one machine (#20): the bundled trainer runs to step 200
// on main; lr-half is forked at @step-100 and mounted at a second
// mountpoint while main's mount stays up; it resumes there from @latest
// with another learning rate to step 200. Both @step-200 exist and differ,
// main never moved, the shared steps are stored once, each mount's log is
// its own line, all of it survives kill -9 of both daemons, and deleting
// the branch + gc gives its bytes back.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/fs/mount_util.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

int RunTrainer(const std::string& args) {
  std::string cmd = std::string("OMP_NUM_THREADS=1 ") + CIUIC_TRAIN_BIN +
                    " --preset tiny --batch 4 --steps 200 --save-every 50 --log-every 50 " + args + " > /dev/null 2>&1";
  int status = system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A number from `ciuicfs stats --json`.
uint64_t StatsField(const std::string& json, const std::string& key) {
  size_t at = json.find("\"" + key + "\":");
  return at == std::string::npos ? 0 : std::strtoull(json.c_str() + at + key.size() + 3, nullptr, 10);
}


TEST(BranchTrainTest, ABranchTrainsBesideMainAtASecondMountpoint) {
  std::string why = FuseUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
  TempDir dir;
  const std::string store = dir.Sub("store");
  ASSERT_EQ(mkdir(dir.Sub("main").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(dir.Sub("b").c_str(), 0755), 0);
  // Re-encoding off: the stored bytes compared below are the chunks as saved.
  auto a = std::make_unique<Mount>(dir.Sub("main"), store, "--no-reencode");
  ASSERT_TRUE(a->Start());
  ASSERT_EQ(RunTrainer("--ckpt-dir " + a->At("run")), 0);
  auto run = [&](const std::string& args) { return RunCiuicfs(args, dir.path()); };
  const std::string step200 = "run/step_00000200/model.pt";
  const std::string main200 = ReadFile(a->At(step200));
  ASSERT_NE(main200, "<missing>");
  const std::string main_head = run("log -n 1 --store " + a->path()).out;
  ASSERT_TRUE(WaitForIngest(a->path(), dir.path()));  // stored bytes: the saves' chunks, not their extents
  const std::string stats_before = run("stats " + a->path() + " --json").out;

  CommandResult fork = run("branch lr-half step-100 --store " + a->path());
  ASSERT_EQ(fork.code, 0) << fork.err;
  auto b = std::make_unique<Mount>(dir.Sub("b"), store, "--branch lr-half --no-reencode");
  ASSERT_TRUE(b->Start());  // while main's mount stays up
  EXPECT_FALSE(PathExists(b->At("run/step_00000150")));
  ASSERT_EQ(RunTrainer("--ckpt-dir " + b->At("run") + " --lr 0.00015 --allow-changed-hparams --resume " +
                       b->At("@latest/run")),
            0);

  auto check = [&](const char* when) {
    SCOPED_TRACE(when);
    const std::string b200 = ReadFile(b->At("@step-200/" + step200));
    EXPECT_NE(b200, "<missing>");
    EXPECT_EQ(ReadFile(a->At("@step-200/" + step200)), main200);
    EXPECT_NE(b200, main200) << "the branch trained with another learning rate";
    EXPECT_EQ(ReadFile(a->At("@latest/" + step200)), main200);
    EXPECT_EQ(run("log -n 1 --store " + a->path()).out, main_head);  // main never moved
    EXPECT_EQ(ReadFile(b->At("@step-100/run/step_00000100/model.pt")),
              ReadFile(a->At("@step-100/run/step_00000100/model.pt")));  // the fork point is shared
    // Each mount's log is its own line back through the fork.
    CommandResult la = run("log " + a->path() + " --json"), lb = run("log " + b->path() + " --json");
    EXPECT_EQ(la.out.find("\"step\":150") != std::string::npos, true);
    const std::string b_head = run("log -n 1 " + b->path() + " --json").out;
    EXPECT_EQ(la.out.find(b_head.substr(0, 60)), std::string::npos) << "main's log shows the branch's head";
    EXPECT_NE(lb.out.find(b_head.substr(0, 60)), std::string::npos);
    EXPECT_GT(CountLines(lb.out), 0);
  };
  check("both mounted");
  // The shared steps are stored once: the branch added about its own two
  // checkpoints (150, 200), not a copy of the four.
  ASSERT_TRUE(WaitForIngest(a->path(), dir.path()));
  const std::string stats_after = run("stats " + a->path() + " --json").out;
  const uint64_t added = StatsField(stats_after, "stored_bytes") - StatsField(stats_before, "stored_bytes");
  const uint64_t one = DirBytes(a->At("run/step_00000200"));
  EXPECT_LT(added, uint64_t(2.5 * double(one))) << added << " bytes for checkpoints of " << one;
  EXPECT_GT(added, uint64_t(1.5 * double(one))) << added;

  // kill -9 of both daemons, then both remount on their branches.
  b->KillHard();
  a->KillHard();
  a = std::make_unique<Mount>(dir.Sub("main"), store, "--no-reencode");
  b = std::make_unique<Mount>(dir.Sub("b"), store, "--branch lr-half --no-reencode");
  ASSERT_TRUE(a->Start());
  ASSERT_TRUE(b->Start());
  check("after kill -9 of both daemons");
  EXPECT_EQ(run("verify " + a->path()).code, 0);

  // Deleting the branch and gc return the store to about its size before it.
  b->Unmount();
  CommandResult del = run("branch -d lr-half --store " + a->path());
  ASSERT_EQ(del.code, 0) << del.err;
  CommandResult gc = run("gc " + a->path());
  ASSERT_EQ(gc.code, 0) << gc.err;
  const uint64_t before = StatsField(stats_before, "stored_bytes");
  ASSERT_TRUE(WaitForIngest(a->path(), dir.path()));
  const uint64_t now = StatsField(run("stats " + a->path() + " --json").out, "stored_bytes");
  EXPECT_LT(double(now), 1.05 * double(before)) << before << " -> " << now;
  std::printf("stored bytes: %llu before the branch, +%llu for its checkpoints 150 and 200 (one checkpoint: %llu), "
              "%llu after branch -d + gc\n",
              (unsigned long long)before, (unsigned long long)added, (unsigned long long)one, (unsigned long long)now);
  EXPECT_EQ(ReadFile(a->At(step200)), main200);
  EXPECT_EQ(run("verify " + a->path()).code, 0);
}

}  // namespace
}  // namespace ciuicfs
