// The training record (#16): every checkpoint's trainer_state.json holds the
// loss history with a validation loss at each save, the environment (argv,
// hyperparameters, versions, device) and a probe loss; --resume compares
// them. Runs the real ciuic-train on CPU, saving into a real ciuicfs mount.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/fs/mount_util.h"
#include "tests/store/test_util.h"
#include "tests/trainer/trainer_run.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;
using Json = nlohmann::json;

constexpr int kN = 20;  // checkpoint interval; runs go to 2N
// --log-every 7: the saves (20, 40) fall between logged steps (1, 7, 14, ...).
const std::vector<std::string> kArgs = {"--preset", "tiny", "--batch", "4", "--steps", "40", "--log-every", "7",
                                        "--save-every", "20"};
const char kPassed[] = "resume: check passed: the loaded model's probe loss ";

std::string Join(const std::vector<std::string>& args) {
  std::string s;
  for (auto& a : args) s += " " + a;
  return s;
}

Json ReadJson(const std::string& path) {
  Json j = Json::parse(ReadFile(path), nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? Json() : j;
}

std::string Hex(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%a", v);
  return buf;
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// CRC-32 as zip computes it.
uint32_t Crc32(const char* p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) {
    c ^= static_cast<unsigned char>(p[i]);
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
  }
  return ~c;
}
uint32_t Get(const std::string& s, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + size_t(i)]);
  return v;
}
void Put32(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + size_t(i)] = char((v >> (8 * i)) & 0xff);
}

// Corrupts a torch::save archive so that it stays well formed: in the
// largest uncompressed tensor record (data/N: a float32 weight matrix)
// flips the exponent's lowest bit of 16 floats spread through it (each
// weight doubles or halves), then rewrites that record's CRC-32 wherever
// the zip keeps it (central directory, local header, data descriptor), so
// LibTorch loads the file as before. Returns the record's name, "" when
// the archive is not as expected.
std::string PerturbLargestTensor(std::string& zip) {
  size_t eocd = zip.rfind(std::string("PK\x05\x06", 4));
  if (eocd == std::string::npos || eocd + 22 > zip.size()) return "";
  const uint32_t entries = Get(zip, eocd + 10, 2);
  size_t p = Get(zip, eocd + 16, 4), best = 0;
  uint32_t best_size = 0;
  for (uint32_t i = 0; i < entries && p + 46 <= zip.size(); ++i) {
    if (Get(zip, p, 4) != 0x02014b50) return "";
    const uint32_t method = Get(zip, p + 10, 2), size = Get(zip, p + 24, 4);
    const std::string name = zip.substr(p + 46, Get(zip, p + 28, 2));
    if (method == 0 && Contains(name, "/data/") && size > best_size) best = p, best_size = size;
    p += 46 + Get(zip, p + 28, 2) + Get(zip, p + 30, 2) + Get(zip, p + 32, 2);
  }
  if (best_size < 16 * 4) return "";
  const std::string name = zip.substr(best + 46, Get(zip, best + 28, 2));
  const uint32_t old_crc = Get(zip, best + 16, 4);
  const size_t local = Get(zip, best + 42, 4);
  if (Get(zip, local, 4) != 0x04034b50) return "";
  const size_t data = local + 30 + Get(zip, local + 26, 2) + Get(zip, local + 28, 2);
  if (data + best_size > zip.size() || Crc32(&zip[data], best_size) != old_crc) return "";
  for (uint32_t k = 0; k < 16; ++k) {
    const size_t f = (size_t(best_size) / 4) * (2 * k + 1) / 32;  // the float's index
    zip[data + 4 * f + 2] ^= char(0x80);                             // little-endian: exponent bit 0
  }
  const uint32_t crc = Crc32(&zip[data], best_size);
  Put32(zip, best + 16, crc);
  if (Get(zip, local + 14, 4) == old_crc) Put32(zip, local + 14, crc);
  size_t desc = data + best_size;  // a data descriptor, with or without its signature
  if (desc + 8 <= zip.size() && Get(zip, desc, 4) == 0x08074b50) desc += 4;
  if (desc + 4 <= zip.size() && Get(zip, desc, 4) == old_crc) Put32(zip, desc, crc);
  return name;
}

class TrainerRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = FuseUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
    mount_ = std::make_unique<Mount>(dir_.Sub("mnt"), dir_.Sub("store"));
    ASSERT_TRUE(mount_->Start());
    std::filesystem::create_directories(dir_.Sub("ref"));
    // The uninterrupted reference run, into the mount.
    TrainerRun ref = RunTrainerBin(Join(kArgs) + " --ckpt-dir " + mount_->At("ref") + " --losses-out " +
                                   dir_.Sub("ref/losses") + " --weights-out " + dir_.Sub("ref/final.pt"));
    ASSERT_EQ(ref.code, 0) << ref.out;
    ref_losses_ = ReadLosses(dir_.Sub("ref/losses"));
    ASSERT_EQ(ref_losses_.size(), size_t(2 * kN));
  }
  void TearDown() override {
    if (mount_) mount_->Unmount();
  }
  std::string Ckpt(const std::string& run, int step) {
    char name[32];
    std::snprintf(name, sizeof(name), "/step_%08d", step);
    return mount_->At(run) + name;
  }
  // A resume from `from` into the mount's `run` folder, with `extra` options.
  TrainerRun Resume(const std::string& from, const std::string& run, const std::string& extra, int threads = 1) {
    std::filesystem::create_directories(dir_.Sub(run));
    return RunTrainerBin(Join(kArgs) + " --ckpt-dir " + mount_->At(run) + " --resume " + from + " --losses-out " +
                             dir_.Sub(run + "/losses") + " --weights-out " + dir_.Sub(run + "/final.pt") + " " + extra,
                         threads);
  }

  TempDir dir_;
  std::unique_ptr<Mount> mount_;
  std::map<int, std::string> ref_losses_;
};

TEST_F(TrainerRecordTest, StateRecordsHistoryEnvironmentAndProbe) {
  const Json s20 = ReadJson(Ckpt("ref", 20) + "/trainer_state.json");
  const Json s40 = ReadJson(Ckpt("ref", 40) + "/trainer_state.json");
  ASSERT_TRUE(s20.is_object() && s40.is_object()) << ReadFile(Ckpt("ref", 40) + "/trainer_state.json");

  // The fields other code reads, exact: the loss is the step's loss bit for bit.
  EXPECT_EQ(s40["step"], 40);
  EXPECT_EQ(s40["loss_hex"], ref_losses_[40]);
  EXPECT_EQ(Hex(s40["loss"].get<double>()), ref_losses_[40]) << "the decimal loss must round-trip";

  // log_history: every logged step and every save, in order, with the
  // step's own loss; eval_loss exactly at the saves.
  auto steps_of = [](const Json& s) {
    std::vector<int> out;
    for (auto& e : s["log_history"]) out.push_back(e["step"].get<int>());
    return out;
  };
  EXPECT_EQ(steps_of(s20), (std::vector<int>{1, 7, 14, 20}));
  EXPECT_EQ(steps_of(s40), (std::vector<int>{1, 7, 14, 20, 21, 28, 35, 40}));
  std::map<int, double> eval;
  for (auto& e : s40["log_history"]) {
    const int step = e["step"].get<int>();
    SCOPED_TRACE("step " + std::to_string(step));
    EXPECT_EQ(e["loss_hex"], ref_losses_[step]);
    EXPECT_EQ(Hex(e["loss"].get<double>()), ref_losses_[step]);
    ASSERT_TRUE(e["learning_rate"].is_number());
    EXPECT_GT(e["learning_rate"].get<double>(), 0);
    EXPECT_EQ(e.contains("eval_loss"), step % kN == 0);
    if (e.contains("eval_loss")) {
      eval[step] = e["eval_loss"].get<double>();
      EXPECT_EQ(e["eval_loss_hex"], Hex(eval[step]));
    }
  }
  EXPECT_EQ(s40["log_history"][0]["learning_rate"].get<double>(), 0.003 / 10);  // warmup's first step
  for (size_t i = 0; i < s20["log_history"].size(); ++i)
    EXPECT_EQ(s40["log_history"][i], s20["log_history"][i]) << "the history accumulates";
  ASSERT_EQ(eval.size(), 2u);
  EXPECT_LT(eval[20], 5.0);  // ~ln(256) untrained
  EXPECT_LT(eval[40], eval[20]) << "the validation loss of the model as saved";
  EXPECT_EQ(s20["log_history"][3]["eval_loss"], s40["log_history"][3]["eval_loss"]);

  // environment: the argv as given, every hyperparameter, the platform.
  const Json& env = s40["environment"];
  std::vector<std::string> argv = {CIUIC_TRAIN_BIN};
  argv.insert(argv.end(), kArgs.begin(), kArgs.end());
  for (const std::string& a : std::vector<std::string>{"--ckpt-dir", mount_->At("ref"), "--losses-out",
                                                     dir_.Sub("ref/losses"), "--weights-out", dir_.Sub("ref/final.pt")})
    argv.push_back(a);
  EXPECT_EQ(env["argv"], Json(argv));
  const Json& h = env["hyperparameters"];
  for (const char* key : {"preset", "vocab", "context", "width", "heads", "layers", "seed", "lr", "min_lr_ratio",
                          "warmup", "steps", "batch", "accum", "weight_decay", "adam_betas", "grad_clip",
                          "freeze_layers", "bf16", "data_path", "data_bytes", "data_fnv1a64", "save_every",
                          "eval_every", "log_every"})
    EXPECT_TRUE(h.contains(key)) << key;
  EXPECT_EQ(h["preset"], "tiny");
  EXPECT_EQ(h["lr"].get<double>(), 0.003);
  EXPECT_EQ(h["batch"], 4);
  EXPECT_EQ(h["steps"], 40);
  EXPECT_EQ(h["seed"], 1337);
  EXPECT_EQ(h["save_every"], 20);
  EXPECT_EQ(h["bf16"], false);
  EXPECT_TRUE(h["data_path"].is_null());  // the generated corpus
  EXPECT_EQ(h["data_bytes"], 400000);
  EXPECT_EQ(env["device"], "cpu");
  EXPECT_EQ(env["threads"], 1);
  EXPECT_TRUE(env["cuda"].is_null());  // Debian's LibTorch is CPU-only
  EXPECT_FALSE(env["libtorch"].get<std::string>().empty());
  EXPECT_FALSE(env["build_id"].get<std::string>().empty());

  // resume_check: a probe loss as exact bits, and where it was computed.
  const Json& rc = s40["resume_check"];
  ASSERT_TRUE(rc["loss_hex"].is_string());
  const double probe = std::strtod(rc["loss_hex"].get<std::string>().c_str(), nullptr);
  EXPECT_GT(probe, 0);
  EXPECT_LT(probe, 5.0);
  EXPECT_EQ(Hex(rc["loss"].get<double>()), rc["loss_hex"]);
  EXPECT_NE(rc["loss_hex"], s20["resume_check"]["loss_hex"]) << "the probe of the model as saved";
  EXPECT_EQ(rc["device"], "cpu");
  EXPECT_EQ(rc["probe_windows"], 4);
}

TEST_F(TrainerRecordTest, HonestResumeFromTheMountPassesTheCheckAndStaysBitExact) {
  int status = RunTrainerUntilThenSignal(Join(kArgs) + " --ckpt-dir " + mount_->At("b"),
                                         "saved step " + std::to_string(kN), SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  TrainerRun r = Resume(mount_->At("@latest/b"), "b", "");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Contains(r.out, kPassed)) << r.out;
  EXPECT_TRUE(Contains(r.out, "equals the recorded one bit for bit")) << r.out;
  EXPECT_FALSE(Contains(r.out, "differs")) << "same binary, options and platform: " << r.out;
  auto got = ReadLosses(dir_.Sub("b/losses"));
  for (int s = kN + 1; s <= 2 * kN; ++s) EXPECT_EQ(got[s], ref_losses_[s]) << "step " << s;
  EXPECT_EQ(Diff(ReadFile(dir_.Sub("b/final.pt")), ReadFile(dir_.Sub("ref/final.pt"))), "same");
  // The whole record but the environment equals the uninterrupted run's:
  // the history loaded at the resume and continued, the probe, the losses.
  EXPECT_EQ(StateWithoutEnvironment(Ckpt("b", 40) + "/trainer_state.json"),
            StateWithoutEnvironment(Ckpt("ref", 40) + "/trainer_state.json"));
  EXPECT_EQ(ReadJson(Ckpt("b", 40) + "/trainer_state.json")["environment"]["resumed_from"]["step"], kN);
}

TEST_F(TrainerRecordTest, ChangedTrajectoryHyperparametersAreRefusedUnlessAllowed) {
  const std::string from = Ckpt("ref", kN);
  TrainerRun refused = Resume(from, "c", "--lr 0.006");
  EXPECT_NE(refused.code, 0) << refused.out;
  EXPECT_TRUE(Contains(refused.out, "resume: lr differs: checkpoint " + Hex(0.003) + ", now " + Hex(0.006)))
      << refused.out;
  EXPECT_TRUE(Contains(refused.out, "trajectory hyperparameters differ from the checkpoint's: lr (")) << refused.out;
  EXPECT_FALSE(Contains(refused.out, kPassed)) << "refused before loading anything";
  EXPECT_FALSE(PathExists(mount_->At("c"))) << "nothing saved";

  TrainerRun two = Resume(from, "c2", "--lr 0.006 --batch 8");
  EXPECT_NE(two.code, 0);
  EXPECT_TRUE(Contains(two.out, "resume: batch differs: checkpoint 4, now 8")) << two.out;
  EXPECT_TRUE(Contains(two.out, "differ from the checkpoint's: lr, batch (")) << two.out;
  // The generated corpus follows the seed: another seed is other data too.
  TrainerRun seed = Resume(from, "c5", "--seed 7");
  EXPECT_NE(seed.code, 0);
  EXPECT_TRUE(Contains(seed.out, "differ from the checkpoint's: seed, data_fnv1a64 (")) << seed.out;

  TrainerRun allowed = Resume(from, "c3", "--lr 0.006 --allow-changed-hparams");
  ASSERT_EQ(allowed.code, 0) << allowed.out;
  EXPECT_TRUE(Contains(allowed.out, "resume: lr differs: checkpoint " + Hex(0.003))) << allowed.out;
  EXPECT_TRUE(Contains(allowed.out, "resume: warning: continuing with changed trajectory hyperparameters"))
      << allowed.out;
  EXPECT_TRUE(Contains(allowed.out, kPassed)) << "the weights are the checkpoint's: " << allowed.out;
  const Json s = ReadJson(Ckpt("c3", 40) + "/trainer_state.json");
  EXPECT_EQ(s["environment"]["hyperparameters"]["lr"].get<double>(), 0.006);
  EXPECT_NE(s["loss_hex"], ref_losses_[40]) << "another learning rate, another trajectory";

  // --steps only lengthens the run: printed, not refused.
  TrainerRun longer = Resume(from, "c4", "--steps 45");
  ASSERT_EQ(longer.code, 0) << longer.out;
  EXPECT_TRUE(Contains(longer.out, "resume: steps differs: checkpoint 40, now 45")) << longer.out;
  EXPECT_FALSE(Contains(longer.out, "trajectory")) << longer.out;
  EXPECT_TRUE(PathExists(Ckpt("c4", 45)));
}

TEST_F(TrainerRecordTest, AnotherThreadCountWarnsAndComparesWithinTolerance) {
  TrainerRun r = Resume(Ckpt("ref", kN), "t", "", /*threads=*/2);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(Contains(r.out, "resume: warning: threads differs: checkpoint 1, now 2")) << r.out;
  EXPECT_TRUE(Contains(r.out, "resume: check passed within tolerance: ")) << r.out;
}

TEST_F(TrainerRecordTest, ACorruptedButWellFormedWeightFailsTheProbeCheck) {
  // A copy of the step-20 checkpoint, in the mount, with model.pt perturbed.
  const std::string src = Ckpt("ref", kN), dst = Ckpt("bad", kN);
  std::filesystem::create_directories(dst);
  for (const char* f : {"model.pt", "optimizer.pt", "rng.pt", "position.pt", "trainer_state.json"})
    ASSERT_TRUE(WriteFile(dst + "/" + f, ReadFile(src + "/" + f))) << f;
  const std::string original = ReadFile(src + "/model.pt");
  std::string model = original;
  const std::string record = PerturbLargestTensor(model);
  ASSERT_FALSE(record.empty()) << "model.pt is not the zip archive expected";
  ASSERT_EQ(model.size(), original.size());
  ASSERT_NE(model, original);
  ASSERT_TRUE(WriteFile(dst + "/model.pt", model));
  const std::string recorded = ReadJson(src + "/trainer_state.json")["resume_check"]["loss_hex"].get<std::string>();

  TrainerRun r = Resume(dst, "bad", "");
  EXPECT_NE(r.code, 0) << r.out;
  // The file loaded (the probe ran), and its loss is not the recorded one.
  EXPECT_TRUE(Contains(r.out, "resume: the loaded model's probe loss 0x")) << record << ": " << r.out;
  EXPECT_TRUE(Contains(r.out, " differs from the recorded " + recorded +
                                  ": the checkpoint is damaged or was not written by this model"))
      << r.out;
  EXPECT_FALSE(Contains(r.out, "cannot load")) << "the corrupted archive must stay well formed: " << r.out;
  EXPECT_FALSE(PathExists(Ckpt("bad", 2 * kN))) << "no training after a failed check";
  // On another thread count the check is a tolerance; the damage exceeds it.
  TrainerRun other = Resume(dst, "bad", "", /*threads=*/2);
  EXPECT_NE(other.code, 0) << other.out;
  EXPECT_TRUE(Contains(other.out, "by more than the relative tolerance")) << other.out;
}

}  // namespace
}  // namespace ciuicfs
