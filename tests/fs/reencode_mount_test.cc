// Re-encoding on a mount (store/FORMAT.md, "Encoded records"): checkpoints
// saved as a trainer saves them become deltas and compressed records in the
// background, or at `ciuicfs compact --wait`, and every snapshot still
// reads back bit-exactly, also after kill -9 of the daemon.
#include <gtest/gtest.h>

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tests/fs/mount_fixture.h"

namespace ciuicfs::testing {
namespace {

class ReencodeMountTest : public MountedTest {};

// fp32 weights that each step moves a little, behind a small header.
std::vector<std::string> Saves(int n) {
  std::mt19937_64 rng(11);
  std::normal_distribution<float> init(0.0f, 0.02f), step(0.0f, 2e-4f);
  std::vector<float> w(3 << 20 >> 2);  // 3 MiB of floats: kept in place by ingest
  for (float& f : w) f = init(rng);
  std::vector<std::string> out;
  for (int s = 0; s < n; ++s) {
    for (float& f : w) f += step(rng);
    std::string file(64, 'h');
    file.append(reinterpret_cast<const char*>(w.data()), w.size() * 4);
    out.push_back(std::move(file));
  }
  return out;
}

uint64_t Field(const std::string& json, const std::string& key) {
  size_t at = json.find("\"" + key + "\":");
  return at == std::string::npos ? ~0ull : std::stoull(json.substr(at + key.size() + 3));
}

TEST_F(ReencodeMountTest, CompactMakesDeltasAndEverySnapshotReadsBackExactly) {
  auto saves = Saves(5);
  // As trainers save: a folder per step, each file written under a
  // temporary name and renamed into place.
  ASSERT_EQ(mkdir(M("run").c_str(), 0755), 0);
  for (size_t i = 0; i < saves.size(); ++i) {
    const std::string step = M("run/step_" + std::to_string(100 * (i + 1)));
    ASSERT_EQ(mkdir(step.c_str(), 0755), 0);
    ASSERT_TRUE(WriteFile(step + "/model.pt.tmp", saves[i]));
    ASSERT_EQ(rename((step + "/model.pt.tmp").c_str(), (step + "/model.pt").c_str()), 0);
  }
  CommandResult c = RunCiuicfs("compact '" + M("") + "' --wait", dir_.path());
  ASSERT_EQ(c.code, 0) << c.out << c.err;
  EXPECT_NE(c.out.find("deltas"), std::string::npos) << c.out;
  CommandResult st = RunCiuicfs("stats --json '" + M("") + "'", dir_.path());
  ASSERT_EQ(st.code, 0) << st.err;
  EXPECT_GT(Field(st.out, "delta_chunks"), 0u) << st.out;
  EXPECT_EQ(Field(st.out, "reencode_waiting_bytes"), 0u) << st.out;
  uint64_t raw = 0;
  for (auto& s : saves) raw += s.size();
  EXPECT_LT(Field(st.out, "stored_bytes"), raw * 85 / 100) << st.out;
  auto check = [&](const char* when) {
    SCOPED_TRACE(when);
    for (size_t i = 0; i < saves.size(); ++i) {
      const std::string rel = "run/step_" + std::to_string(100 * (i + 1)) + "/model.pt";
      EXPECT_TRUE(ReadFile(M(rel)) == saves[i]) << rel;
      EXPECT_TRUE(ReadFile(M("@latest/" + rel)) == saves[i]) << rel;
      EXPECT_TRUE(ReadFile(M("@step-" + std::to_string(100 * (i + 1)) + "/" + rel)) == saves[i]) << rel;
    }
  };
  check("after compact");
  CommandResult v = RunCiuicfs("verify '" + M("") + "'", dir_.path());
  EXPECT_EQ(v.code, 0) << v.out << v.err;
  mount_->KillHard();
  ASSERT_TRUE(mount_->Start());
  check("after kill -9");
}

}  // namespace
}  // namespace ciuicfs::testing
