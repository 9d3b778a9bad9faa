// A real LibTorch program (trainer/ciuic-ckptgen) saves model and optimizer
// every few steps with torch::save and tmp-then-rename, into a mount and,
// with the same calls, into a plain directory; every step must read back
// bit-identical to the plain copy.
#include <gtest/gtest.h>
#include <dirent.h>
#include <sys/stat.h>

#include <cstdio>
#include <algorithm>
#include <map>
#include <vector>

#include "tests/fs/mount_util.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

TEST(TorchSaveTest, EverySavedStepReadsBackBitIdentical) {
  std::string why = FuseUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
  TempDir dir;
  Mount mount(dir.Sub("mnt"), dir.Sub("store"));
  ASSERT_TRUE(mount.Start());
  mkdir(dir.Sub("native").c_str(), 0755);
  // The same torch::save calls write the mount and a native mirror.
  const std::string cmd = std::string(CKPTGEN_BIN) + " " + mount.At("run") + " --mirror " + dir.Sub("native/run") +
                          " --saves 3 --every 2 --width 64 --blocks 2 > /dev/null";
  ASSERT_EQ(system(cmd.c_str()), 0);
  for (int step : {2, 4, 6}) {
    char sub[32];
    std::snprintf(sub, sizeof(sub), "run/step_%06d/", step);
    for (const char* file : {"model.pt", "optimizer.pt"}) {
      const std::string native = ReadFile(dir.Sub("native/") + sub + file);
      ASSERT_GT(native.size(), 10000u);
      EXPECT_EQ(Diff(ReadFile(mount.At("@step-" + std::to_string(step) + "/") + sub + file), native), "same")
          << sub << file;
      EXPECT_EQ(Diff(ReadFile(mount.At(sub) + file), native), "same") << sub << file;
      EXPECT_EQ(Diff(ReadFile(mount.At("@latest/") + sub + file), native), "same") << sub << file;
    }
    EXPECT_EQ(ReadFile(mount.At("@latest/") + sub + "model.pt.tmp"), "<missing>");
  }
  // @history: the last snapshot of each step holds that step's files.
  std::map<std::string, std::string> last_of_step;  // step -> history dir name
  DIR* h = opendir(mount.At("@history").c_str());
  ASSERT_NE(h, nullptr);
  std::vector<std::string> names;
  while (struct dirent* e = readdir(h))
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  closedir(h);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    size_t at = name.find("-step-");
    last_of_step[name.substr(at + 6, name.rfind('-') - at - 6)] = name;
  }
  for (int step : {2, 4, 6}) {
    char sub[32];
    std::snprintf(sub, sizeof(sub), "run/step_%06d/", step);
    ASSERT_TRUE(last_of_step.count(std::to_string(step))) << step;
    for (const char* file : {"model.pt", "optimizer.pt"})
      EXPECT_EQ(Diff(ReadFile(mount.At("@history/" + last_of_step[std::to_string(step)] + "/") + sub + file),
                     ReadFile(dir.Sub("native/") + sub + file)),
                "same")
          << step << " " << file;
  }
  mount.Unmount();
}

}  // namespace
}  // namespace ciuicfs
