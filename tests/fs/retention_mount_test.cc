// Retention in a mount's daemon (store/retention/README.md): a trainer
// saving 200 checkpoints under --keep-last 5 --keep-every-steps 50 ends with
// exactly the snapshots those rules keep plus the tagged one, the packs
// shrink without a manual gc, and `ciuicfs policy` changes it live.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "tests/fs/mount_util.h"
#include "tests/store/test_util.h"

namespace ciuicfs::testing {
namespace {

constexpr size_t kWeights = 64 << 10;

// (seq, step) of every retained snapshot, from `ciuicfs log --json`.
std::map<uint64_t, int64_t> Retained(const std::string& mnt, const std::string& scratch) {
  std::map<uint64_t, int64_t> out;
  CommandResult log = RunCiuicfs("log '" + mnt + "' --json", scratch);
  size_t at = 0;
  while ((at = log.out.find("{\"seq\":", at)) != std::string::npos) {
    const uint64_t seq = std::stoull(log.out.substr(at + 7));
    const size_t st = log.out.find("\"step\":", at);
    out[seq] = std::stoll(log.out.substr(st + 7));
    at = st;
  }
  return out;
}

// What keep-last `last` + keep-every-steps `every` + the tag keep, computed
// from the retained set itself: the newest `last` by sequence (which must
// all be there), the newest retained of every step divisible by `every`
// (older ones of a step are never kept), and the tagged one.
std::set<uint64_t> Expected(const std::map<uint64_t, int64_t>& kept, uint64_t head, uint64_t last, int64_t every,
                            uint64_t tagged) {
  std::set<uint64_t> e = {tagged};
  for (uint64_t i = 0; i < last && i < head; ++i) e.insert(head - i);
  std::map<int64_t, uint64_t> newest;
  for (auto& [seq, step] : kept)
    if (step % every == 0) newest[step] = std::max(newest[step], seq);
  for (auto& [step, seq] : newest) e.insert(seq);
  return e;
}

std::set<uint64_t> Keys(const std::map<uint64_t, int64_t>& m) {
  std::set<uint64_t> s;
  for (auto& [k, v] : m) s.insert(k);
  return s;
}

// Polls until the retained set equals what the rules keep (the keeper runs
// about a second after the last commit).
bool Settles(const std::string& mnt, const std::string& scratch, uint64_t last, int64_t every, uint64_t tagged,
             std::map<uint64_t, int64_t>* kept) {
  for (int i = 0; i < 150; ++i) {
    *kept = Retained(mnt, scratch);
    if (!kept->empty() && Keys(*kept) == Expected(*kept, kept->rbegin()->first, last, every, tagged)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return false;
}

uint64_t JsonField(const std::string& json, const std::string& key) {
  size_t at = json.find("\"" + key + "\":");
  return at == std::string::npos ? ~0ull : std::stoull(json.substr(at + key.size() + 3));
}

TEST(RetentionMountTest, TwoHundredCheckpointsEndWithWhatThePolicyKeeps) {
  std::string why = FuseUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << "skipping: " << why;
  TempDir dir;
  Mount mount(dir.Sub("mnt"), dir.Sub("store"), "--keep-last 5 --keep-every-steps 50");
  ASSERT_TRUE(mount.Start());
  const std::string mnt = mount.path();
  uint64_t tagged = 0;
  for (int step = 1; step <= 200; ++step) {  // as an HF Trainer with save_total_limit=2
    const std::string d = "checkpoint-" + std::to_string(step);
    ASSERT_EQ(mkdir(mount.At(d).c_str(), 0755), 0);
    ASSERT_TRUE(WriteFile(mount.At(d + "/model.bin.tmp"), RandomBytes(step, kWeights)));
    ASSERT_EQ(rename(mount.At(d + "/model.bin.tmp").c_str(), mount.At(d + "/model.bin").c_str()), 0);
    ASSERT_TRUE(WriteFile(mount.At(d + "/trainer_state.json"), "{\"global_step\": " + std::to_string(step) + "}"));
    if (step > 2) {
      const std::string old = "checkpoint-" + std::to_string(step - 2);
      ASSERT_EQ(unlink(mount.At(old + "/model.bin").c_str()), 0);
      ASSERT_EQ(unlink(mount.At(old + "/trainer_state.json").c_str()), 0);
      ASSERT_EQ(rmdir(mount.At(old).c_str()), 0);
    }
    if (step == 77) {
      CommandResult tag = RunCiuicfs("tag keep77 latest --store '" + mnt + "'", dir.path());
      ASSERT_EQ(tag.code, 0) << tag.err;
      tagged = std::stoull(tag.out.substr(tag.out.find("snapshot ") + 9));
    }
  }
  auto stored_now = [&] {
    CommandResult st = RunCiuicfs("stats --json '" + mnt + "'", dir.path());
    return JsonField(st.out, "stored_bytes") + JsonField(st.out, "extent_bytes");
  };
  const uint64_t before = stored_now();  // before the keeper's gc (it waits for saves to pause)
  std::map<uint64_t, int64_t> kept;
  ASSERT_TRUE(Settles(mnt, dir.path(), 5, 50, tagged, &kept)) << "retained: " << kept.size();
  EXPECT_EQ(kept.size(), 5u + 3u + 1u);  // the last 5 hold step 200's newest; 50, 100, 150; the tag
  EXPECT_EQ(kept.count(tagged), 1u);
  // The snapshots kept for their step hold that checkpoint whole.
  for (int step : {50, 100, 150, 200})
    EXPECT_EQ(Diff(ReadFile(mount.At("@step-" + std::to_string(step) + "/checkpoint-" + std::to_string(step) +
                                     "/model.bin")),
                   RandomBytes(step, kWeights)),
              "same")
        << step;
  EXPECT_EQ(Diff(ReadFile(mount.At("@tag-keep77/checkpoint-77/model.bin")), RandomBytes(77, kWeights)), "same");
  EXPECT_FALSE(PathExists(mount.At("@step-120")));

  // gc ran in the daemon, with no manual gc, and the backlog is ingested:
  // the store holds less than a fifth of the 200 checkpoints saved. (It
  // falls to what the kept snapshots hold, ~0.06 of it: the keeper runs gc
  // again while the background work it left moves, and gc takes the pack
  // saves append to once most of it is dead.)
  uint64_t stored = ~0ull;
  for (int i = 0; i < 450; ++i) {  // 90 s
    CommandResult st = RunCiuicfs("stats --json '" + mnt + "'", dir.path());
    CommandResult ks = RunCiuicfs("policy '" + mnt + "' --json", dir.path());
    stored = JsonField(st.out, "stored_bytes") + JsonField(st.out, "extent_bytes");
    if (JsonField(ks.out, "gc_runs") >= 1 && JsonField(st.out, "backlog_versions") == 0 && stored < 200 * kWeights / 5)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_LT(stored, 200 * kWeights / 5);
  CommandResult pol = RunCiuicfs("policy '" + mnt + "' --json", dir.path());
  ASSERT_EQ(pol.code, 0) << pol.err;
  EXPECT_NE(pol.out.find("\"policy\":\"keep-last=5,keep-every-steps=50\""), std::string::npos) << pol.out;
  EXPECT_GE(JsonField(pol.out, "gc_runs"), 1u) << pol.out;
  EXPECT_GE(JsonField(pol.out, "dropped"), 1000u) << pol.out;  // ~6 snapshots a checkpoint
  std::printf("retention: %zu snapshots kept, %llu dropped by the keeper, gc ran %llu times; stored %llu bytes of %zu saved "
              "(%.3f; %llu before gc)\n",
              kept.size(), (unsigned long long)JsonField(pol.out, "dropped"), (unsigned long long)JsonField(pol.out, "gc_runs"),
              (unsigned long long)stored, 200 * kWeights, double(stored) / double(200 * kWeights),
              (unsigned long long)before);

  // Live: keep-last 2 drops three more at once; --clear keeps all from now.
  CommandResult set = RunCiuicfs("policy '" + mnt + "' --keep-last 2 --keep-every-steps 50", dir.path());
  ASSERT_EQ(set.code, 0) << set.err;
  EXPECT_NE(set.out.find("policy keep-last=2,keep-every-steps=50"), std::string::npos) << set.out;
  ASSERT_TRUE(Settles(mnt, dir.path(), 2, 50, tagged, &kept));
  EXPECT_EQ(kept.size(), 2u + 3u + 1u);
  ASSERT_EQ(RunCiuicfs("policy '" + mnt + "' --clear", dir.path()).code, 0);
  const uint64_t head = kept.rbegin()->first;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(WriteFile(mount.At("extra_" + std::to_string(i)), "x"));
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  std::map<uint64_t, int64_t> after = Retained(mnt, dir.path());
  ASSERT_GE(after.rbegin()->first, head + 3);
  for (uint64_t seq = head + 1; seq <= after.rbegin()->first; ++seq)
    EXPECT_EQ(after.count(seq), 1u) << "with no policy every new snapshot stays: " << seq;
  for (auto& [seq, step] : kept) EXPECT_EQ(after.count(seq), 1u) << seq;
  CommandResult bad = RunCiuicfs("policy '" + mnt + "' --keep-last nine", dir.path());
  EXPECT_EQ(bad.code, 2);
  EXPECT_EQ(CountLines(bad.err), 1) << bad.err;
  EXPECT_EQ(RunCiuicfs("verify '" + mnt + "'", dir.path()).code, 0);
  mount.Unmount();
  CommandResult unmounted = RunCiuicfs("policy '" + dir.Sub("store") + "'", dir.path());
  EXPECT_EQ(unmounted.code, 1);
  EXPECT_NE(unmounted.err.find("not mounted"), std::string::npos) << unmounted.err;
}

}  // namespace
}  // namespace ciuicfs::testing
