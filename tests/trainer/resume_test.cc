// The bundled trainer resumes bit-exactly: after SIGKILL past a checkpoint,
// after SIGTERM mid-interval, from @latest of a real ciuicfs mount, and
// (under scripts/ceph-cluster.sh with) on another node of a store on RADOS
// after the first node is lost.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "tests/fs/mount_util.h"
#include "tests/store/test_util.h"
#include "tests/trainer/trainer_run.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

constexpr int kN = 20;  // checkpoint interval; runs go to 2N
const std::string kCommon = " --preset tiny --batch 4 --steps " + std::to_string(2 * kN) + " --log-every 1";

std::map<int, std::string> Losses(const std::string& path) { return ReadLosses(path); }

int RunTrainer(const std::string& args) {
  std::string cmd = std::string("OMP_NUM_THREADS=1 ") + CIUIC_TRAIN_BIN + kCommon + " " + args + " > /dev/null 2>&1";
  int status = system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int RunUntilThenSignal(const std::string& args, const std::string& marker, int sig) {
  return RunTrainerUntilThenSignal(kCommon + " " + args, marker, sig);
}

class ResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.Sub("ref"));
    ASSERT_EQ(RunTrainer("--ckpt-dir " + dir_.Sub("ref/ck") + " --save-every " + std::to_string(kN) +
                         " --losses-out " + dir_.Sub("ref/losses") + " --weights-out " + dir_.Sub("ref/final.pt")),
              0);
    ref_ = Losses(dir_.Sub("ref/losses"));
    ASSERT_EQ(ref_.size(), size_t(2 * kN));
  }
  // The resumed run's losses after `from` and its final weights equal the
  // uninterrupted reference, bit for bit.
  void ExpectSameAsReference(const std::string& run, int from) {
    auto got = Losses(dir_.Sub(run + "/losses"));
    for (int s = from + 1; s <= 2 * kN; ++s) EXPECT_EQ(got[s], ref_[s]) << "step " << s;
    EXPECT_EQ(Diff(ReadFile(dir_.Sub(run + "/final.pt")), ReadFile(dir_.Sub("ref/final.pt"))), "same");
  }
  TempDir dir_;
  std::map<int, std::string> ref_;
};

TEST_F(ResumeTest, LossFallsWellBelowItsStart) {
  double first = std::strtod(ref_[1].c_str(), nullptr), last = std::strtod(ref_[2 * kN].c_str(), nullptr);
  EXPECT_GT(first, 5.0);         // ~ln(256) for untrained byte logits
  EXPECT_LT(last, first * 0.65);  // the generated corpus is very learnable
}

// Fraction of positions at which two equal-length files hold the same byte.
double SameByteFraction(const std::string& a, const std::string& b) {
  if (a.size() != b.size() || a.empty()) return 0;
  size_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  return double(same) / double(a.size());
}

TEST_F(ResumeTest, FrozenLayersStayByteIdenticalAcrossSaves) {
  ASSERT_EQ(RunTrainer("--ckpt-dir " + dir_.Sub("f/ck") + " --save-every " + std::to_string(kN) + " --freeze-layers 1"), 0);
  const std::string a = ReadFile(dir_.Sub("f/ck/step_00000020/model.pt"));
  const std::string b = ReadFile(dir_.Sub("f/ck/step_00000040/model.pt"));
  const double frozen = SameByteFraction(a, b);
  // Without freezing, training changes the weights' low bytes everywhere
  // (sign and exponent bytes often stay: about a quarter of all bytes).
  const double trained = SameByteFraction(ReadFile(dir_.Sub("ref/ck/step_00000020/model.pt")),
                                          ReadFile(dir_.Sub("ref/ck/step_00000040/model.pt")));
  // Embeddings and block 0 are more than half of the tiny model's weights.
  EXPECT_GT(frozen, trained + 0.3) << "frozen " << frozen << ", trained " << trained;
}

TEST_F(ResumeTest, SigkillAfterACheckpointThenResume) {
  std::filesystem::create_directories(dir_.Sub("b"));
  int status = RunUntilThenSignal("--ckpt-dir " + dir_.Sub("b/ck") + " --save-every " + std::to_string(kN),
                                  "saved step " + std::to_string(kN), SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  ASSERT_EQ(RunTrainer("--ckpt-dir " + dir_.Sub("b/ck") + " --resume " + dir_.Sub("b/ck") + " --losses-out " +
                       dir_.Sub("b/losses") + " --weights-out " + dir_.Sub("b/final.pt")),
            0);
  ExpectSameAsReference("b", kN);
}

TEST_F(ResumeTest, SigtermSavesMidIntervalThenResume) {
  std::filesystem::create_directories(dir_.Sub("c"));
  int status = RunUntilThenSignal("--ckpt-dir " + dir_.Sub("c/ck") + " --save-every " + std::to_string(kN),
                                  "step " + std::to_string(kN + 7) + " ", SIGTERM);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "SIGTERM must end in a clean exit: " << status;
  int saved = 0;  // the emergency checkpoint, between the regular ones
  for (auto& e : std::filesystem::directory_iterator(dir_.Sub("c/ck")))
    saved = std::max(saved, std::stoi(e.path().filename().string().substr(5)));
  ASSERT_GT(saved, kN);
  ASSERT_LT(saved, 2 * kN);
  ASSERT_EQ(RunTrainer("--ckpt-dir " + dir_.Sub("c/ck") + " --resume " + dir_.Sub("c/ck") + " --losses-out " +
                       dir_.Sub("c/losses") + " --weights-out " + dir_.Sub("c/final.pt")),
            0);
  ExpectSameAsReference("c", saved);
}

TEST_F(ResumeTest, ResumeFromLatestOfARealMount) {
  std::string why = FuseUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
  Mount mount(dir_.Sub("mnt"), dir_.Sub("store"));
  ASSERT_TRUE(mount.Start());
  std::filesystem::create_directories(dir_.Sub("d"));
  int status = RunUntilThenSignal("--ckpt-dir " + mount.At("run") + " --save-every " + std::to_string(kN) + " --keep 2",
                                  "saved step " + std::to_string(kN), SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  ASSERT_EQ(RunTrainer("--ckpt-dir " + mount.At("run") + " --resume " + mount.At("@latest/run") + " --losses-out " +
                       dir_.Sub("d/losses") + " --weights-out " + dir_.Sub("d/final.pt")),
            0);
  ExpectSameAsReference("d", kN);
  // The last checkpoint in the mount equals the reference's, file by file.
  EXPECT_EQ(Diff(ReadFile(mount.At("@latest/run/step_00000040/model.pt")),
                 ReadFile(dir_.Sub("ref/ck/step_00000040/model.pt"))),
            "same");
  // The record too, but for the environment (it names each run's argv).
  EXPECT_EQ(StateWithoutEnvironment(mount.At("@latest/run/step_00000040/trainer_state.json")),
            StateWithoutEnvironment(dir_.Sub("ref/ck/step_00000040/trainer_state.json")));
  mount.Unmount();
}

// Every file below `dir`, by its path relative to `dir`, with its bytes.
std::map<std::string, std::string> FilesBelow(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[std::filesystem::relative(e.path(), dir).string()] = ReadFile(e.path().string());
  return out;
}

TEST_F(ResumeTest, ResumesOnAnotherNodeWhenTheFirstIsLost) {
  const char* ceph = getenv("CIUICFS_TEST_CEPH_CONF");
  if (!ceph || !*ceph) GTEST_SKIP() << "needs a Ceph cluster: ctest runs it as ResumeTest.rados (scripts/ceph-cluster.sh with)";
  std::string why = FuseUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
  const std::string store = "rados:ciuicfs/resume" + std::to_string(getpid());
  auto node = [&](const std::string& cache) {
    return "--cache '" + dir_.Sub(cache) + "' --ceph-conf '" + ceph + "'";
  };
  std::map<std::string, std::string> closed;  // what node A closed, as A shows it
  size_t snapshots_a = 0;
  {
    Mount a(dir_.Sub("mnt_a"), store, node("cache_a"));
    ASSERT_TRUE(a.Start());
    int status = RunUntilThenSignal("--ckpt-dir " + a.At("run") + " --save-every " + std::to_string(kN),
                                    "saved step " + std::to_string(kN), SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(status)) << status;
    closed = FilesBelow(a.At("@latest/run"));
    snapshots_a = size_t(CountEntries(a.At("@history")));
    a.KillHard();  // the node is lost: its daemon, then its disk
  }
  ASSERT_FALSE(closed.empty());
  std::filesystem::remove_all(dir_.Sub("cache_a"));
  std::filesystem::create_directories(dir_.Sub("e"));
  Mount b(dir_.Sub("mnt_b"), store, node("cache_b"));
  ASSERT_TRUE(b.Start());
  EXPECT_EQ(size_t(CountEntries(b.At("@history"))), snapshots_a);
  const auto on_b = FilesBelow(b.At("@latest/run"));
  ASSERT_EQ(on_b.size(), closed.size());
  for (auto& [path, bytes] : closed) EXPECT_EQ(Diff(on_b.at(path), bytes), "same") << path;
  ASSERT_EQ(RunTrainer("--ckpt-dir " + b.At("run") + " --resume " + b.At("@latest/run") + " --losses-out " +
                       dir_.Sub("e/losses") + " --weights-out " + dir_.Sub("e/final.pt")),
            0);
  ExpectSameAsReference("e", kN);
  EXPECT_GT(size_t(CountEntries(b.At("@history"))), snapshots_a);  // B's saves continue the chain
  EXPECT_EQ(Diff(ReadFile(b.At("@latest/run/step_00000040/model.pt")),
                 ReadFile(dir_.Sub("ref/ck/step_00000040/model.pt"))),
            "same");
  EXPECT_EQ(StateWithoutEnvironment(b.At("@latest/run/step_00000040/trainer_state.json")),
            StateWithoutEnvironment(dir_.Sub("ref/ck/step_00000040/trainer_state.json")));
  b.Unmount();
}

}  // namespace
}  // namespace ciuicfs
