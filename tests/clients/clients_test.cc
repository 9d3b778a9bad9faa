// Real clients against a real mount (#13): PyTorch loops laid out as plain
// torch.save, HF Trainer, DeepSpeed, Megatron and Lightning save
// (tests/clients/clients.py, Debian's python3-torch), each checked bit-exact
// from @step-N and resumed bit-exactly from @latest, again after a
// remount; and whole trees copied in with rsync -a and tar x, and out of
// @latest with cp -a, modes, times and symlinks kept.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/fs/mount_fixture.h"
#include "tests/fs/mount_util.h"

namespace ciuicfs::testing {
namespace {

const char kPython[] = "/usr/bin/python3";

std::string Script() { return std::string(CIUICFS_SOURCE_DIR) + "/tests/clients/clients.py"; }

// Runs a shell command; its stdout, and its exit status in *code.
std::string Shell(const std::string& cmd, int* code) { return ShellOutput(cmd, code); }

std::string FinalOf(const std::string& out) {
  const size_t at = out.rfind("FINAL ");
  return at == std::string::npos ? "<none>" : out.substr(at + 6, 64);
}

class ClientsTest : public MountedTest {
 protected:
  void SetUp() override {
    int code = 0;
    Shell(std::string(kPython) + " -c 'import torch' 2>/dev/null", &code);
    if (code != 0) GTEST_SKIP() << "skipping: no python3-torch here (scripts/setup.sh installs it)";
    MountedTest::SetUp();
  }
};

class FrameworkTest : public ClientsTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(FrameworkTest, SavesReadBackBitExactAndResume) {
  const std::string kind = GetParam();
  int code = 0;
  const std::string out = Shell(std::string(kPython) + " " + Script() + " run " + kind + " '" + M(kind) + "' 5", &code);
  ASSERT_EQ(code, 0) << out;
  const std::string final_hash = FinalOf(out);
  const std::string saved = dir_.Sub("saved.txt");
  ASSERT_TRUE(WriteFile(saved, out));
  // Every file as it was saved, from the snapshot of its step.
  const std::string verify =
      std::string(kPython) + " " + Script() + " verify '" + mount_->path() + "' " + kind + " < '" + saved + "'";
  std::string diff = Shell(verify, &code);
  EXPECT_EQ(code, 0) << diff;
  // Resumed from @latest the framework's own way: the same weights as the
  // run that never stopped.
  const std::string resume = std::string(kPython) + " " + Script() + " resume " + kind + " '" + M("@latest/" + kind) + "'";
  std::string resumed = Shell(resume, &code);
  ASSERT_EQ(code, 0) << resumed;
  EXPECT_EQ(FinalOf(resumed), final_hash);
  Remount();
  diff = Shell(verify, &code);
  EXPECT_EQ(code, 0) << diff;
  resumed = Shell(resume, &code);
  ASSERT_EQ(code, 0) << resumed;
  EXPECT_EQ(FinalOf(resumed), final_hash);
  // And from the live path, as a restarted job would.
  resumed = Shell(std::string(kPython) + " " + Script() + " resume " + kind + " '" + M(kind) + "'", &code);
  ASSERT_EQ(code, 0) << resumed;
  EXPECT_EQ(FinalOf(resumed), final_hash);
}

INSTANTIATE_TEST_SUITE_P(Clients, FrameworkTest,
                         ::testing::Values("torch", "hf", "deepspeed", "megatron", "lightning"));

// A tree's files, folders and symlinks with their modes, mtimes (ns) and
// targets, one line each, sorted.
std::string Listing(const std::string& dir) {
  int code = 0;
  return Shell("cd '" + dir + "' && find . -mindepth 1 -printf '%P %y %m %T@ %l\\n' | sort", &code);
}

TEST_F(ClientsTest, TreesCopiedInAndOutKeepModesTimesAndSymlinks) {
  // A checkpoint tree whose every entry has a time of its own.
  const std::string src = dir_.Sub("src");
  int code = 0;
  Shell("set -e; mkdir -p '" + src + "/run/checkpoint-10/sub'; cd '" + src + "';"
        " head -c 300000 /dev/urandom > run/checkpoint-10/model.bin; echo '{\"step\": 10}' > run/checkpoint-10/state.json;"
        " printf x > run/checkpoint-10/sub/rng; chmod 0640 run/checkpoint-10/model.bin; chmod 0700 run/checkpoint-10/sub;"
        " ln -s checkpoint-10 run/latest; ln -s ../nowhere run/dangling;"
        " touch -h -d '2025-01-02 03:04:05.123456789' run/latest run/dangling;"
        " touch -d '2024-05-06 07:08:09.5' run/checkpoint-10/model.bin run/checkpoint-10/state.json"
        " run/checkpoint-10/sub/rng run/checkpoint-10/sub;"
        " touch -d '2024-05-06 07:08:10' run/checkpoint-10 run; tar cf ../tree.tar .",
        &code);
  ASSERT_EQ(code, 0);
  ASSERT_NE(Listing(src).find("run/latest l 777 1735787045.1234567890 checkpoint-10"), std::string::npos) << Listing(src);
  // Each copy made twice, into a native folder and into the mount: the
  // same listing (tar keeps whole seconds, on either).
  auto both = [&](const std::string& name, const std::string& cmd) {
    for (const std::string& to : {dir_.Sub("native_" + name), M(name)}) {
      std::string out = Shell(cmd + " '" + to + "' 2>&1", &code);
      EXPECT_EQ(code, 0) << cmd << " " << to << ": " << out;
    }
    EXPECT_EQ(Listing(M(name)), Listing(dir_.Sub("native_" + name))) << name;
  };
  both("rs", "rsync -a '" + src + "/'");
  both("tx", "f() { mkdir \"$1\" && tar xf '" + dir_.Sub("tree.tar") + "' -C \"$1\"; }; f");
  EXPECT_EQ(Listing(M("rs")), Listing(src));
  // Out of the history with cp -a: as the source was.
  std::string out = Shell("cp -a '" + M("@latest/rs") + "' '" + dir_.Sub("out") + "' 2>&1", &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_EQ(Listing(dir_.Sub("out")), Listing(src));
  out = Shell("cmp '" + src + "/run/checkpoint-10/model.bin' '" + dir_.Sub("out") + "/run/checkpoint-10/model.bin' 2>&1", &code);
  EXPECT_EQ(code, 0) << out;
  // Kept by the store: the same after a remount.
  Remount();
  EXPECT_EQ(Listing(M("rs")), Listing(src));
  EXPECT_EQ(Listing(M("tx")), Listing(dir_.Sub("native_tx")));
}

}  // namespace
}  // namespace ciuicfs::testing
