// Branches through the command line and a real mount (#20): create at any
// snapshot, mount a branch, switch a running mount, each branch's @latest,
// @step-N, @history and log; bad input fails with one line and changes
// nothing; kill -9 of the daemon and a remount keep all of it.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <thread>
#include <fcntl.h>
#include <unistd.h>

#include "tests/fs/mount_util.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;


class BranchCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = FuseUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
    mount_ = std::make_unique<Mount>(dir_.Sub("mnt"), Store());
    ASSERT_TRUE(mount_->Start());
    ASSERT_EQ(mkdir(mount_->At("run").c_str(), 0755), 0);
    for (int step : {100, 200, 300}) Save("main", step);
  }
  // A checkpoint whose bytes name the branch and the step; its step comes
  // from the file name.
  void Save(const std::string& branch, int step) {
    const std::string name = "run/ckpt_step_" + std::to_string(step) + ".pt";
    ASSERT_TRUE(WriteFile(mount_->At(name), Content(branch, step)));
  }
  static std::string Content(const std::string& branch, int step) {
    return branch + " " + std::to_string(step) + " " + RandomBytes(step, 100000);
  }
  CommandResult Run(const std::string& args) { return RunCiuicfs(args, dir_.path()); }
  std::string Store() const { return dir_.Sub("store"); }
  std::string Mnt() const { return mount_->path(); }

  TempDir dir_;
  std::unique_ptr<Mount> mount_;
};

TEST_F(BranchCliTest, ABranchForkedAtAStepIsTrainedApartAndMainNeverMoves) {
  CommandResult created = Run("branch lr-half step-200 --store " + Mnt());
  ASSERT_EQ(created.code, 0) << created.err;
  CommandResult list = Run("branch --store " + Mnt() + " --json");
  ASSERT_EQ(list.code, 0) << list.err;
  EXPECT_EQ(CountLines(list.out), 2);
  EXPECT_NE(list.out.find("\"name\":\"lr-half\""), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("\"name\":\"main\",\"head_seq\":4"), std::string::npos) << list.out;  // mkdir + 3 saves
  EXPECT_NE(list.out.find("\"mounted\":true"), std::string::npos);
  // @branch-lr-half is its head: main as of step 200.
  EXPECT_EQ(ReadFile(mount_->At("@branch-lr-half/run/ckpt_step_200.pt")), Content("main", 200));
  EXPECT_FALSE(PathExists(mount_->At("@branch-lr-half/run/ckpt_step_300.pt")));
  const std::string main_log = Run("log " + Mnt()).out;

  CommandResult sw = Run("switch lr-half --store " + Mnt());
  ASSERT_EQ(sw.code, 0) << sw.err;
  EXPECT_FALSE(PathExists(mount_->At("run/ckpt_step_300.pt")));  // the live tree is the branch's head
  Save("lr-half", 300);
  Save("lr-half", 400);
  EXPECT_EQ(ReadFile(mount_->At("@latest/run/ckpt_step_400.pt")), Content("lr-half", 400));
  EXPECT_EQ(ReadFile(mount_->At("@step-300/run/ckpt_step_300.pt")), Content("lr-half", 300));
  EXPECT_EQ(ReadFile(mount_->At("@branch-main/run/ckpt_step_300.pt")), Content("main", 300));
  EXPECT_FALSE(PathExists(mount_->At("@branch-main/run/ckpt_step_400.pt")));
  EXPECT_EQ(CountEntries(mount_->At("@history")), 5);  // mkdir, 100, 200 (shared), then 300, 400 of the branch
  // log on each branch: its own line back through the fork.
  CommandResult log = Run("log " + Mnt() + " --json");
  EXPECT_EQ(CountLines(log.out), 5) << log.out;
  EXPECT_EQ(Run("log " + Mnt() + " --branch main").out, main_log);  // main never moved
  CommandResult all = Run("log " + Mnt() + " --all");
  EXPECT_EQ(CountLines(all.out), 6) << all.out;
  EXPECT_NE(all.out.find("(head of lr-half)"), std::string::npos) << all.out;
  EXPECT_NE(all.out.find("(forks from 3)"), std::string::npos) << all.out;
  // diff and show take branch names.
  CommandResult diff = Run("diff main lr-half --store " + Mnt());
  ASSERT_EQ(diff.code, 0) << diff.err;
  EXPECT_NE(diff.out.find("ckpt_step_400.pt"), std::string::npos) << diff.out;

  // kill -9 of the daemon, then a remount on each branch.
  mount_->KillHard();
  mount_ = std::make_unique<Mount>(dir_.Sub("mnt"), Store(), "--branch lr-half");
  ASSERT_TRUE(mount_->Start());
  EXPECT_EQ(ReadFile(mount_->At("run/ckpt_step_400.pt")), Content("lr-half", 400));
  EXPECT_EQ(ReadFile(mount_->At("run/ckpt_step_300.pt")), Content("lr-half", 300));
  mount_->Unmount();
  mount_ = std::make_unique<Mount>(dir_.Sub("mnt"), Store());
  ASSERT_TRUE(mount_->Start());
  EXPECT_EQ(ReadFile(mount_->At("run/ckpt_step_300.pt")), Content("main", 300));
  EXPECT_FALSE(PathExists(mount_->At("run/ckpt_step_400.pt")));
  EXPECT_EQ(Run("verify " + Mnt()).code, 0);

  // Deleting the branch drops what only it reached; gc gives the bytes back.
  CommandResult before = Run("stats " + Mnt() + " --json");
  ASSERT_EQ(Run("branch -d lr-half --store " + Mnt()).code, 0);
  EXPECT_EQ(CountLines(Run("log " + Mnt() + " --all").out), 4);  // main's line: the branch's 2 are gone
  ASSERT_EQ(Run("gc " + Mnt()).code, 0);
  CommandResult after = Run("stats " + Mnt() + " --json");
  EXPECT_NE(before.out, after.out);
  EXPECT_EQ(ReadFile(mount_->At("run/ckpt_step_300.pt")), Content("main", 300));
  EXPECT_EQ(Run("verify " + Mnt()).code, 0);
}

TEST_F(BranchCliTest, BadBranchInputFailsWithOneLineAndChangesNothing) {
  ASSERT_EQ(Run("branch exp step-100 --store " + Mnt()).code, 0);
  const std::string before = Run("branch --store " + Mnt()).out;
  const struct {
    std::string args;
    int code;
    std::string says;
  } cases[] = {
      {"branch x nosuchref --store " + Mnt(), 1, "no snapshot matches 'nosuchref'"},
      {"branch exp --store " + Mnt(), 2, "branch 'exp' exists"},
      {"branch a/b --store " + Mnt(), 2, "bad branch name"},
      {"branch .. --store " + Mnt(), 2, "bad branch name"},
      {"branch @x --store " + Mnt(), 2, "bad branch name"},
      {"branch '' --store " + Mnt(), 2, "bad branch name"},
      {"branch -d main --store " + Mnt(), 2, "'main' cannot be deleted"},
      {"branch -d nope --store " + Mnt(), 1, "no branch 'nope'"},
      {"switch nope --store " + Mnt(), 1, "no branch 'nope'"},
      {"switch a/b --store " + Mnt(), 2, "bad branch name"},
  };
  for (const auto& c : cases) {
    CommandResult r = Run(c.args);
    EXPECT_EQ(r.code, c.code) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << c.args << ": " << r.err;
    EXPECT_EQ(CountLines(r.err), 1) << c.args << ": " << r.err;
  }
  EXPECT_EQ(Run("branch --store " + Mnt()).out, before);  // nothing changed
  // The live branch cannot be deleted; a switch waits for writers to close.
  ASSERT_EQ(Run("switch exp --store " + Mnt()).code, 0);
  CommandResult live = Run("branch -d exp --store " + Mnt());
  EXPECT_NE(live.code, 0);
  EXPECT_NE(live.err.find("live in this mount"), std::string::npos) << live.err;
  int fd = open(mount_->At("run/open.pt").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  CommandResult busy = Run("switch main --store " + Mnt());
  EXPECT_NE(busy.code, 0);
  EXPECT_NE(busy.err.find("open for writing"), std::string::npos) << busy.err;
  close(fd);
  ASSERT_EQ(Run("switch main --store " + Mnt()).code, 0) << Run("switch main --store " + Mnt()).err;
  // A mount on a branch that does not exist is refused unless --create.
  mount_->Unmount();
  Mount missing(dir_.Sub("mnt"), Store(), "--branch ghost");
  EXPECT_FALSE(missing.Start());
  Mount created(dir_.Sub("mnt"), Store(), "--branch ghost --create");
  ASSERT_TRUE(created.Start());
  EXPECT_EQ(ReadFile(created.At("run/ckpt_step_300.pt")), Content("main", 300));  // main's head
  created.Unmount();
  Mount again(dir_.Sub("mnt"), Store());
  ASSERT_TRUE(again.Start());
  EXPECT_EQ(RunCiuicfs("branch --store " + again.path(), dir_.path()).out.find("ghost") != std::string::npos, true);
  EXPECT_EQ(RunCiuicfs("branch --store " + again.path(), dir_.path()).out.find(" exp ") != std::string::npos, true);
}

// Two mounts of one store at the same time, each on its own branch, both
// writing: A/B runs on one machine. Each sees its own line; a branch can be
// live in one mount only; gc waits until one mount is left.
TEST_F(BranchCliTest, TwoMountsOnTwoBranchesWriteAtOnce) {
  ASSERT_EQ(mkdir(dir_.Sub("mnt-b").c_str(), 0755), 0);
  auto b = std::make_unique<Mount>(dir_.Sub("mnt-b"), Store(), "--branch exp --create");
  ASSERT_TRUE(b->Start());
  EXPECT_EQ(ReadFile(b->At("run/ckpt_step_300.pt")), Content("main", 300));  // created at main's head
  std::thread ta([&] {
    for (int step = 400; step < 420; ++step)
      EXPECT_TRUE(WriteFile(mount_->At("run/ckpt_step_" + std::to_string(step) + ".pt"), Content("main", step)));
  });
  std::thread tb([&] {
    for (int step = 400; step < 420; ++step)
      EXPECT_TRUE(WriteFile(b->At("run/ckpt_step_" + std::to_string(step) + ".pt"), Content("exp", step)));
  });
  ta.join();
  tb.join();
  for (int step = 400; step < 420; step += 7) {
    const std::string f = "run/ckpt_step_" + std::to_string(step) + ".pt";
    EXPECT_EQ(ReadFile(mount_->At(f)), Content("main", step));
    EXPECT_EQ(ReadFile(b->At(f)), Content("exp", step));
    EXPECT_EQ(ReadFile(mount_->At("@branch-exp/" + f)), Content("exp", step));  // each sees the other's head
    EXPECT_EQ(ReadFile(b->At("@latest/" + f)), Content("exp", step));
    EXPECT_EQ(ReadFile(b->At("@step-" + std::to_string(step) + "/" + f)), Content("exp", step));
    EXPECT_EQ(ReadFile(mount_->At("@step-" + std::to_string(step) + "/" + f)), Content("main", step));
  }
  CommandResult log_a = RunCiuicfs("log " + Mnt() + " --json", dir_.path());
  CommandResult log_b = RunCiuicfs("log " + b->path() + " --json", dir_.path());
  EXPECT_EQ(CountLines(log_a.out), 24);  // mkdir, 3 saves, 20 saves
  EXPECT_EQ(CountLines(log_b.out), 24);  // the same 4, then its own 20
  // One branch, one writer; gc waits for the other mount.
  CommandResult sw = RunCiuicfs("switch main --store " + b->path(), dir_.path());
  EXPECT_NE(sw.code, 0);
  EXPECT_NE(sw.err.find("branch 'main' is mounted for writing at " + Mnt()), std::string::npos) << sw.err;
  CommandResult del = RunCiuicfs("branch -d exp --store " + Mnt(), dir_.path());
  EXPECT_NE(del.code, 0);
  EXPECT_NE(del.err.find("mounted for writing at " + b->path()), std::string::npos) << del.err;
  CommandResult gc = RunCiuicfs("gc " + Mnt(), dir_.path());
  EXPECT_NE(gc.code, 0);
  EXPECT_NE(gc.err.find("gc runs when it is the only one"), std::string::npos) << gc.err;
  // kill -9 of both daemons; both remount on their branches with all of it.
  b->KillHard();
  mount_->KillHard();
  b = std::make_unique<Mount>(dir_.Sub("mnt-b"), Store(), "--branch exp");
  mount_ = std::make_unique<Mount>(dir_.Sub("mnt"), Store());
  ASSERT_TRUE(b->Start());
  ASSERT_TRUE(mount_->Start());
  EXPECT_EQ(ReadFile(b->At("run/ckpt_step_419.pt")), Content("exp", 419));
  EXPECT_EQ(ReadFile(mount_->At("run/ckpt_step_419.pt")), Content("main", 419));
  EXPECT_EQ(RunCiuicfs("verify " + Mnt(), dir_.path()).code, 0);
  b->Unmount();
  CommandResult gc_alone = RunCiuicfs("gc " + Mnt(), dir_.path());
  EXPECT_EQ(gc_alone.code, 0) << gc_alone.err;
}

// Prune's policy applies to each branch's line: keep-last N keeps each
// branch's newest N, and every head stays.
TEST_F(BranchCliTest, PruneKeepsEachBranchsNewest) {
  ASSERT_EQ(Run("branch exp step-100 --store " + Mnt()).code, 0);
  ASSERT_EQ(Run("switch exp --store " + Mnt()).code, 0);
  for (int step = 110; step <= 150; step += 10) Save("exp", step);
  ASSERT_EQ(Run("switch main --store " + Mnt()).code, 0);
  for (int step = 400; step <= 420; step += 10) Save("main", step);
  CommandResult prune = Run("prune --keep-last 2 --store " + Mnt());
  ASSERT_EQ(prune.code, 0) << prune.err;
  CommandResult main_log = Run("log " + Mnt() + " --json");
  CommandResult exp_log = Run("log " + Mnt() + " --branch exp --json");
  EXPECT_EQ(CountLines(main_log.out), 2) << main_log.out;
  EXPECT_EQ(CountLines(exp_log.out), 2) << exp_log.out;
  EXPECT_NE(main_log.out.find("\"step\":420"), std::string::npos);
  EXPECT_NE(exp_log.out.find("\"step\":150"), std::string::npos);
  EXPECT_EQ(ReadFile(mount_->At("@branch-exp/run/ckpt_step_150.pt")), Content("exp", 150));
  EXPECT_EQ(ReadFile(mount_->At("run/ckpt_step_420.pt")), Content("main", 420));
  ASSERT_EQ(Run("gc " + Mnt()).code, 0);
  EXPECT_EQ(Run("verify " + Mnt()).code, 0);
}

// A directory handle from before a switch (or a removed directory) takes no
// new names: they would land at the wrong path of the new branch. A switch
// refused for an open file keeps the mount's branch and its lock.
TEST_F(BranchCliTest, HandlesFromBeforeASwitchChangeNothing) {
  ASSERT_EQ(mkdir(mount_->At("olddir").c_str(), 0755), 0);
  ASSERT_EQ(Run("branch exp --store " + Mnt()).code, 0);
  int dfd = open(mount_->At("olddir").c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dfd, 0);
  ASSERT_EQ(Run("switch exp --store " + Mnt()).code, 0);
  EXPECT_EQ(mkdirat(dfd, "sub", 0755), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(openat(dfd, "f", O_WRONLY | O_CREAT, 0644), -1);
  EXPECT_EQ(errno, ENOENT);
  close(dfd);
  ASSERT_EQ(Run("switch main --store " + Mnt()).code, 0);
  EXPECT_EQ(Run("log " + Mnt() + " --all").out.find("sub"), std::string::npos);
  // A file reached through such a directory: no writes (they would be lost).
  ASSERT_TRUE(WriteFile(mount_->At("olddir/f"), "v1"));
  dfd = open(mount_->At("olddir").c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dfd, 0);
  ASSERT_EQ(Run("switch exp --store " + Mnt()).code, 0);
  EXPECT_EQ(openat(dfd, "f", O_WRONLY | O_APPEND), -1);
  EXPECT_EQ(errno, ESTALE);
  close(dfd);
  ASSERT_EQ(Run("switch main --store " + Mnt()).code, 0);
  EXPECT_EQ(ReadFile(mount_->At("olddir/f")), "v1");
  // A removed directory, the same.
  ASSERT_EQ(mkdir(mount_->At("gone").c_str(), 0755), 0);
  dfd = open(mount_->At("gone").c_str(), O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dfd, 0);
  ASSERT_EQ(rmdir(mount_->At("gone").c_str()), 0);
  EXPECT_EQ(mkdirat(dfd, "x", 0755), -1);
  EXPECT_EQ(errno, ENOENT);
  close(dfd);
  EXPECT_FALSE(PathExists(mount_->At("x")));
  // Refused while a file is open: main stays this mount's, locked.
  int fd = open(mount_->At("run/open.pt").c_str(), O_WRONLY | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  EXPECT_NE(Run("switch exp --store " + Mnt()).code, 0);
  CommandResult rb = Run("rollback step-100 --store " + Mnt());  // a rollback waits for writers too
  EXPECT_NE(rb.code, 0);
  EXPECT_NE(rb.err.find("open for writing"), std::string::npos) << rb.err;
  ASSERT_EQ(mkdir(dir_.Sub("mnt-c").c_str(), 0755), 0);
  Mount other(dir_.Sub("mnt-c"), Store());  // main again: refused
  EXPECT_FALSE(other.Start());
  close(fd);
  EXPECT_NE(Run("branch --store " + Mnt() + " --json").out.find("\"name\":\"main\",\"head_seq\""), std::string::npos);
  CommandResult live = Run("log -n 1 " + Mnt() + " --json");
  EXPECT_NE(live.out.find("run/open.pt"), std::string::npos) << live.out;  // its close committed on main
}

// truncate(2) by path is a save of its own; a mount reached through a
// symlink answers the commands given the symlink.
TEST_F(BranchCliTest, PathTruncateIsSavedAndSymlinkedMountsAnswer) {
  const std::string f = "run/ckpt_step_300.pt";
  ASSERT_EQ(truncate(mount_->At(f).c_str(), 5), 0);
  EXPECT_EQ(ReadFile(mount_->At("@latest/" + f)), Content("main", 300).substr(0, 5));
  ASSERT_EQ(symlink(Mnt().c_str(), dir_.Sub("link").c_str()), 0);
  CommandResult log = Run("log -n 1 " + dir_.Sub("link"));
  EXPECT_EQ(log.code, 0) << log.err;
  CommandResult tag = Run("tag t latest --store " + dir_.Sub("link"));  // through the daemon
  EXPECT_EQ(tag.code, 0) << tag.err;
  mount_->KillHard();
  mount_ = std::make_unique<Mount>(dir_.Sub("mnt"), Store());
  ASSERT_TRUE(mount_->Start());
  EXPECT_EQ(ReadFile(mount_->At(f)), Content("main", 300).substr(0, 5));
}

}  // namespace
}  // namespace ciuicfs
