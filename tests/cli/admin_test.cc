// The admin subcommands on a store built by real saves through a mount.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <atomic>
#include <map>
#include <thread>

#include "tests/fs/mount_util.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;


class AdminTest : public ::testing::Test {
 protected:
  // Three checkpoint folders: a shared ("frozen") 3 MiB file and a fresh
  // 4 MiB file each, saved through a real mount.
  void SetUp() override {
    std::string why = FuseUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
    mount_ = std::make_unique<Mount>(dir_.Sub("mnt"), dir_.Sub("store"));
    ASSERT_TRUE(mount_->Start());
    const std::string frozen = RandomBytes(1, 3 << 20);
    for (int step : {100, 200, 300}) {
      std::string d = "checkpoint-" + std::to_string(step);
      ASSERT_EQ(mkdir(mount_->At(d).c_str(), 0755), 0);
      files_[d + "/frozen.bin"] = frozen;
      files_[d + "/fresh.bin"] = RandomBytes(step, 4 << 20);
      ASSERT_TRUE(WriteFile(mount_->At(d + "/frozen.bin"), frozen));
      ASSERT_TRUE(WriteFile(mount_->At(d + "/fresh.bin"), files_[d + "/fresh.bin"]));
      saved_bytes_ += frozen.size() + (4 << 20);
    }
  }
  CommandResult Run(const std::string& args) { return RunCiuicfs(args, dir_.path()); }
  std::string Store() const { return dir_.Sub("store"); }
  // What the store takes on disk for chunks: packs, and extents (whose
  // chunks stay in place, their dead ranges punched), from `ciuicfs stats`.
  uint64_t StoredBytes() const {
    CommandResult r = RunCiuicfs("stats --json --store " + Store(), dir_.path());
    size_t at = r.out.find("\"stored_bytes\":");
    return at == std::string::npos ? 0 : std::stoull(r.out.substr(at + 15));
  }

  TempDir dir_;
  std::unique_ptr<Mount> mount_;
  std::map<std::string, std::string> files_;
  uint64_t saved_bytes_ = 0;
};

TEST_F(AdminTest, ReadCommandsWorkOnTheMountWhileItServes) {
  CommandResult log = Run("log " + mount_->path() + " --json");
  ASSERT_EQ(log.code, 0) << log.err;
  EXPECT_EQ(CountLines(log.out), CountEntries(mount_->At("@history")));  // 3 mkdirs + 6 saves
  EXPECT_EQ(CountLines(log.out), 9);
  for (auto& [path, content] : files_) EXPECT_NE(log.out.find("\"path\":\"" + path + "\""), std::string::npos) << path;
  EXPECT_EQ(log.out.find("\"seq\":9"), log.out.find("{\"seq\":9") + 1);  // newest first
  CommandResult by_step = Run("log " + mount_->path() + " --by-step");
  EXPECT_NE(by_step.out.find("step 300 (3 snapshots)"), std::string::npos) << by_step.out;
  // A tmp-then-rename save counts once: the rename is a link, not a save.
  std::string extra = RandomBytes(42, 1 << 20);
  ASSERT_TRUE(WriteFile(mount_->At("x_step_5.pt.tmp"), extra));
  ASSERT_EQ(rename(mount_->At("x_step_5.pt.tmp").c_str(), mount_->At("x_step_5.pt").c_str()), 0);
  saved_bytes_ += extra.size();
  EXPECT_NE(Run("log " + mount_->path() + " -n 1").out.find("-x_step_5.pt.tmp, =x_step_5.pt"), std::string::npos);
  CommandResult stats = Run("stats " + mount_->path() + " --json");
  ASSERT_EQ(stats.code, 0) << stats.err;
  EXPECT_NE(stats.out.find("\"raw_bytes\":" + std::to_string(saved_bytes_)), std::string::npos) << stats.out;
  EXPECT_EQ(Run("verify " + mount_->path()).code, 0);
}

// Run from inside a mount (any folder of it, `@` trees too) with no store
// named, a command works on that mount, reads and changes alike.
TEST_F(AdminTest, ACommandFromInsideAMountWorksOnIt) {
  auto from = [&](const std::string& rel, const std::string& args) {
    return RunCiuicfs(args, dir_.path(), "cd '" + mount_->At(rel) + "' &&");
  };
  CommandResult inside = from("checkpoint-200", "log --json");
  ASSERT_EQ(inside.code, 0) << inside.err;
  EXPECT_EQ(inside.out, Run("log " + mount_->path() + " --json").out);
  EXPECT_EQ(CountLines(inside.out), 9);
  CommandResult in_snapshot = from("@latest/checkpoint-100", "log --json");
  EXPECT_EQ(in_snapshot.out, inside.out) << in_snapshot.err;
  CommandResult tag = from("checkpoint-300", "tag here step-300");
  ASSERT_EQ(tag.code, 0) << tag.err;
  EXPECT_EQ(Diff(ReadFile(mount_->At("@tag-here/checkpoint-300/fresh.bin")), files_["checkpoint-300/fresh.bin"]), "same");
  // The store as the argument after the REF, as with --store.
  CommandResult show = Run("show step-200 " + mount_->path());
  ASSERT_EQ(show.code, 0) << show.err;
  EXPECT_EQ(show.out, Run("show step-200 --store " + mount_->path()).out);
  EXPECT_NE(show.out.find("checkpoint-200/fresh.bin"), std::string::npos) << show.out;
  // Outside any mount, with no store named: the default store, not this one.
  CommandResult outside = RunCiuicfs("log --json", dir_.path(), "cd '" + dir_.path() + "' && HOME='" + dir_.path() + "'");
  EXPECT_NE(outside.code, 0);
  EXPECT_EQ(outside.out.find("checkpoint-200"), std::string::npos);
}

// graph --png renders the chain through Graphviz (scripts/setup.sh
// installs it).
TEST_F(AdminTest, GraphRendersAPng) {
  const std::string png = dir_.Sub("chain.png");
  CommandResult g = Run("graph " + mount_->path() + " --png '" + png + "'");
  ASSERT_EQ(g.code, 0) << g.err;
  EXPECT_EQ(ReadFile(png).substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  CommandResult dot = Run("graph " + mount_->path());
  EXPECT_NE(dot.out.find("digraph"), std::string::npos) << dot.out;
}

// show, verify and gc --json parse as JSON and carry what the text says.
TEST_F(AdminTest, ShowAndVerifyAnswerInJson) {
  auto parse = [&](const std::string& json, const std::string& expr) { return PythonOverJson(json, expr, dir_.path()); };
  CommandResult show = Run("show step-200 " + mount_->path() + " --json");
  ASSERT_EQ(show.code, 0) << show.err;
  EXPECT_EQ(parse(show.out, "d[\"step\"], sorted(e[\"path\"] for e in d[\"tree\"] if e[\"kind\"] == \"file\")"),
            "200 ['checkpoint-100/fresh.bin', 'checkpoint-100/frozen.bin', 'checkpoint-200/fresh.bin', "
            "'checkpoint-200/frozen.bin']\n")
      << show.out;
  CommandResult text = Run("show step-200 " + mount_->path());
  EXPECT_NE(text.out.find(parse(show.out, "d[\"id\"]").substr(0, 64)), std::string::npos) << text.out;
  CommandResult verify = Run("verify " + mount_->path() + " --json");
  ASSERT_EQ(verify.code, 0) << verify.err;
  EXPECT_EQ(parse(verify.out, "d[\"clean\"], d[\"snapshots\"], d[\"problems\"]"), "True 9 []\n") << verify.out;
  // gc runs inside the daemon of a mounted store; its answer is relayed.
  CommandResult gc = Run("gc " + mount_->path() + " --json");
  ASSERT_EQ(gc.code, 0) << gc.err;
  EXPECT_EQ(parse(gc.out, "sorted(d)"),
            "['bytes_freed', 'bytes_stored', 'chunks_deleted', 'packs_compacted', 'packs_removed']\n")
      << gc.out;
}

TEST_F(AdminTest, ChangesToAMountedStoreRunInsideTheDaemonWhileATrainerWrites) {
  CommandResult tag = Run("tag best step-100 --store " + mount_->path());
  ASSERT_EQ(tag.code, 0) << tag.err;
  EXPECT_EQ(Diff(ReadFile(mount_->At("@tag-best/checkpoint-100/fresh.bin")), files_["checkpoint-100/fresh.bin"]), "same");
  // A "trainer" keeps saving while prune and gc run.
  std::atomic<bool> stop{false};
  std::map<std::string, std::string> later;
  for (int i = 0; i < 40; ++i) later["run/ckpt_step_" + std::to_string(1000 + i) + ".pt"] = RandomBytes(5000 + i, 600000);
  ASSERT_EQ(mkdir(mount_->At("run").c_str(), 0755), 0);
  std::atomic<int> write_errors{0}, saves{0};
  std::thread trainer([&] {
    for (auto& [name, content] : later) {
      if (stop) break;
      if (!WriteFile(mount_->At(name + ".tmp"), content) ||
          rename(mount_->At(name + ".tmp").c_str(), mount_->At(name).c_str()) != 0)
        ++write_errors;
      ++saves;
    }
  });
  CommandResult prune = Run("prune " + mount_->path() + " --keep-last 3");
  EXPECT_EQ(prune.code, 0) << prune.err;
  CommandResult gc = Run("gc " + mount_->path());
  EXPECT_EQ(gc.code, 0) << gc.err;
  EXPECT_NE(gc.out.find("freed "), std::string::npos) << gc.out;
  trainer.join();
  EXPECT_EQ(write_errors, 0);
  for (auto& [name, content] : later) {
    EXPECT_EQ(Diff(ReadFile(mount_->At(name)), content), "same") << name;
    EXPECT_EQ(Diff(ReadFile(mount_->At("@latest/" + name)), content), "same") << name;
  }
  EXPECT_EQ(Diff(ReadFile(mount_->At("@tag-best/checkpoint-100/fresh.bin")), files_["checkpoint-100/fresh.bin"]), "same");
  // Rollback through the mount (to the tagged snapshot, which prune kept):
  // the live tree becomes that snapshot's.
  CommandResult rb = Run("rollback best --store " + mount_->path());
  ASSERT_EQ(rb.code, 0) << rb.err;
  EXPECT_EQ(ReadFile(mount_->At("checkpoint-300/fresh.bin")), "<missing>");
  EXPECT_EQ(ReadFile(mount_->At("run/ckpt_step_1000.pt")), "<missing>");
  EXPECT_EQ(Diff(ReadFile(mount_->At("checkpoint-100/fresh.bin")), files_["checkpoint-100/fresh.bin"]), "same");
  ASSERT_TRUE(WriteFile(mount_->At("after_rollback_step_7.pt"), "x"));  // saving goes on
  EXPECT_EQ(ReadFile(mount_->At("@latest/after_rollback_step_7.pt")), "x");
  EXPECT_EQ(Run("verify " + mount_->path()).code, 0);
  mount_->Unmount();
  EXPECT_EQ(Run("verify " + Store()).code, 0);
}

TEST_F(AdminTest, ShowAndDiff) {
  mount_->Unmount();
  CommandResult show = Run("show step-200 --store " + Store());
  ASSERT_EQ(show.code, 0) << show.err;
  EXPECT_NE(show.out.find("step     200"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("3145728  checkpoint-200/frozen.bin"), std::string::npos) << show.out;
  EXPECT_EQ(show.out.find("checkpoint-300"), std::string::npos) << show.out;
  CommandResult same = Run("diff latest latest --store " + Store());
  EXPECT_EQ(same.out, "no differences\n");
  CommandResult d = Run("diff step-100 step-300 --store " + Store());
  EXPECT_NE(d.out.find("added     checkpoint-300/fresh.bin  (4194304 bytes)"), std::string::npos) << d.out;
  // The same file across two saves: only the fresh part differs.
  ASSERT_TRUE(mount_->Start());
  std::string v2 = files_["checkpoint-100/frozen.bin"].substr(0, 2 << 20) + RandomBytes(77, 1 << 20);
  ASSERT_TRUE(WriteFile(mount_->At("checkpoint-100/frozen.bin"), v2));
  mount_->Unmount();
  CommandResult m = Run("diff latest~1 latest checkpoint-100 --store " + Store());
  ASSERT_EQ(m.code, 0) << m.err;
  EXPECT_NE(m.out.find("modified  checkpoint-100/frozen.bin  3145728 -> 3145728 bytes"), std::string::npos) << m.out;
  EXPECT_EQ(CountLines(m.out), 1) << m.out;
  size_t of = m.out.find(" of ");
  int differing = std::stoi(m.out.substr(m.out.rfind(';', of) + 2));
  int total = std::stoi(m.out.substr(of + 4));
  EXPECT_GE(differing, 1);
  EXPECT_LT(differing, total) << "an edit of the last third changes only the chunks there";
}

TEST_F(AdminTest, TagPruneGcKeepRetainedSnapshotsExact) {
  mount_->Unmount();
  ASSERT_EQ(Run("tag first step-100 --store " + Store()).code, 0);
  // A new save replaces the fresh files; old ones become prunable.
  ASSERT_TRUE(mount_->Start());
  EXPECT_EQ(Diff(ReadFile(mount_->At("@tag-first/checkpoint-100/fresh.bin")), files_["checkpoint-100/fresh.bin"]), "same");
  for (int step : {200, 300}) ASSERT_EQ(unlink(mount_->At("checkpoint-" + std::to_string(step) + "/fresh.bin").c_str()), 0);
  mount_->Unmount();
  const uint64_t before = StoredBytes();
  CommandResult dry = Run("prune " + Store() + " --keep-last 1 --dry-run");
  ASSERT_EQ(dry.code, 0) << dry.err;
  EXPECT_NE(dry.out.find("would drop"), std::string::npos);
  EXPECT_EQ(Run("log " + Store() + " --json").out.size() > 0, true);
  CommandResult prune = Run("prune " + Store() + " --keep-last 1");
  ASSERT_EQ(prune.code, 0) << prune.err;
  CommandResult log = Run("log " + Store() + " --json");
  EXPECT_EQ(CountLines(log.out), 2) << log.out;  // the head and the tagged one
  CommandResult gc = Run("gc " + Store());
  ASSERT_EQ(gc.code, 0) << gc.err;
  EXPECT_NE(gc.out.find("freed "), std::string::npos);
  const uint64_t after = StoredBytes();
  EXPECT_LT(after, before);
  EXPECT_EQ(Run("verify " + Store()).code, 0);
  ASSERT_TRUE(mount_->Start());
  EXPECT_EQ(CountEntries(mount_->At("@history")), 2);
  EXPECT_EQ(Diff(ReadFile(mount_->At("@tag-first/checkpoint-100/fresh.bin")), files_["checkpoint-100/fresh.bin"]), "same");
  EXPECT_EQ(Diff(ReadFile(mount_->At("@latest/checkpoint-300/frozen.bin")), files_["checkpoint-300/frozen.bin"]), "same");
  EXPECT_EQ(ReadFile(mount_->At("@latest/checkpoint-300/fresh.bin")), "<missing>");
  mount_->Unmount();
  EXPECT_EQ(Run("tag --delete first --store " + Store()).code, 0);
  EXPECT_EQ(Run("tag --store " + Store()).out, "");
}

TEST_F(AdminTest, RollbackAddsOneSnapshotAndNoBytes) {
  mount_->Unmount();
  ASSERT_TRUE(mount_->Start());
  ASSERT_TRUE(WriteFile(mount_->At("checkpoint-100/fresh.bin"), RandomBytes(999, 1 << 20)));
  mount_->Unmount();
  const uint64_t before = StoredBytes();
  const int snapshots = CountLines(Run("log " + Store() + " --json").out);
  CommandResult r = Run("rollback step-200 --store " + Store());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("0 bytes added"), std::string::npos) << r.out;
  EXPECT_EQ(CountLines(Run("log " + Store() + " --json").out), snapshots + 1);
  EXPECT_EQ(StoredBytes(), before);
  EXPECT_EQ(Run("diff step-200 latest --store " + Store()).out, "no differences\n");
  ASSERT_TRUE(mount_->Start());  // the live tree is the rolled-back tree
  EXPECT_EQ(Diff(ReadFile(mount_->At("checkpoint-100/fresh.bin")), files_["checkpoint-100/fresh.bin"]), "same");
  EXPECT_EQ(ReadFile(mount_->At("checkpoint-300/fresh.bin")), "<missing>");
  mount_->Unmount();
  CommandResult dot = Run("graph " + Store());
  ASSERT_EQ(dot.code, 0) << dot.err;
  EXPECT_NE(dot.out.find("digraph ciuicfs"), std::string::npos);
  EXPECT_NE(dot.out.find("label=\"rollback\""), std::string::npos) << dot.out;
  CommandResult png = Run("graph " + Store() + " --png " + dir_.Sub("chain.png"));
  if (system("command -v dot >/dev/null 2>&1") == 0) {
    EXPECT_EQ(png.code, 0) << png.err;
    EXPECT_GT(FileSize(dir_.Sub("chain.png")), 100u);
  } else {
    EXPECT_EQ(png.code, 1);
    EXPECT_NE(png.err.find("Graphviz"), std::string::npos) << png.err;
  }
}

TEST_F(AdminTest, BadInputChangesNothing) {
  mount_->Unmount();
  mkdir(dir_.Sub("plain").c_str(), 0755);
  const std::string before_log = Run("log " + Store() + " --json").out;
  const uint64_t before_bytes = StoredBytes();
  struct Case {
    std::string args;
    int code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"frobnicate", 2, "unknown command"},
      {"log --frob " + Store(), 2, "frob"},
      {"show nosuchref --store " + Store(), 1, "no snapshot matches 'nosuchref'"},
      {"show deadbeef00 --store " + Store(), 1, "no snapshot id starts with deadbeef00"},
      {"show step-x --store " + Store(), 2, "want step-N"},
      {"rollback step-12345 --store " + Store(), 1, "no snapshot with step 12345"},
      {"diff latest --store " + Store(), 2, "needs two snapshots"},
      {"tag 'bad name' latest --store " + Store(), 2, "bad tag name"},
      {"tag --delete nosuch --store " + Store(), 1, "no tag 'nosuch'"},
      {"prune " + Store(), 2, "say what to keep"},
      {"log " + dir_.Sub("plain"), 1, "not a ciuicfs store or mount"},
      {"gc " + dir_.Sub("absent"), 1, "not a ciuicfs store or mount"},
  };
  for (const Case& c : cases) {
    CommandResult r = Run(c.args);
    EXPECT_EQ(r.code, c.code) << c.args << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << ": " << r.err;
    EXPECT_EQ(CountLines(r.err), 1) << c.args << ": " << r.err;
  }
  EXPECT_EQ(Run("log " + Store() + " --json").out, before_log);
  EXPECT_EQ(StoredBytes(), before_bytes);
  EXPECT_NE(access((dir_.Sub("plain") + "/CIUICFS-STORE").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace ciuicfs
