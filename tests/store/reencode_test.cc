#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>

#include "store/encode/reencode_job.h"
#include "store/index/lmdb_env.h"
#include "store/index/queries.h"
#include "store/pack/format.h"
#include "store/store.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

// A checkpoint as full training writes it: a small header, then fp32
// weights that every step moves a little, so no chunk repeats.
std::vector<std::string> TrainingSaves(int n, size_t floats) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> init(0.0f, 0.02f), step(0.0f, 2e-4f);
  std::vector<float> w(floats);
  for (float& f : w) f = init(rng);
  std::vector<std::string> out;
  for (int s = 0; s < n; ++s) {
    for (float& f : w) f += step(rng);
    std::string file = "PK header step " + std::to_string(s) + std::string(48, ' ');
    file.resize(64);
    file.append(reinterpret_cast<const char*>(w.data()), w.size() * 4);
    out.push_back(std::move(file));
  }
  return out;
}

void ExpectVerifyClean(Store* store) {
  auto report = store->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  for (const std::string& p : report->problems) ADD_FAILURE() << p;
}

void ExpectAllExact(Store* store, const std::vector<std::string>& saves) {
  auto snaps = store->ListSnapshots();
  ASSERT_TRUE(snaps.ok());
  for (const Snapshot& s : *snaps)
    EXPECT_EQ(ReadVersion(store, VersionIn(store, s, "model.pt")), saves[s.step]) << "snapshot " << s.seq;
}

StoreOptions SmallPacks() {
  StoreOptions o;
  o.pack_target_size = 8 << 20;
  return o;
}

TEST(ReencodeTest, TrainingSavesShrinkAndReadBackExactly) {
  TempDir dir;
  auto saves = TrainingSaves(6, 1 << 20);  // 4 MiB each
  auto store = OpenStore(dir.Sub("s"), SmallPacks());
  for (size_t i = 0; i < saves.size(); ++i) CommitFile(store.get(), "model.pt", saves[i], int64_t(i));
  auto before = store->Stats();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->encoded_chunks, 0u);
  EXPECT_GT(before->reencode_waiting_bytes, 0u);
  ASSERT_TRUE(store->Reencode().ok());
  auto after = store->Stats();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->reencode_waiting_bytes, 0u);
  EXPECT_GT(after->encoded_chunks, after->chunks / 2);
  EXPECT_GT(after->delta_chunks, 0u) << "later saves are deltas on earlier ones";
  EXPECT_EQ(after->unique_bytes, before->unique_bytes) << "chunk ids and sizes are unchanged";
  ExpectAllExact(store.get(), saves);
  ExpectVerifyClean(store.get());
  // gc compacts the raw records away: the store is smaller than the raw saves.
  ASSERT_TRUE(store->Gc({}).ok());
  auto compacted = store->Stats();
  uint64_t raw = 0;
  for (auto& s : saves) raw += s.size();
  // Random mantissas do not compress; sign, exponent and the high bits of
  // a small step do.
  EXPECT_LT(compacted->live_bytes, raw * 80 / 100) << "records " << compacted->live_bytes << " of " << raw;
  // Once no pack is being appended to, gc leaves only those records.
  store.reset();
  store = OpenStore(dir.Sub("s"), SmallPacks());
  ASSERT_TRUE(store->Gc({}).ok());
  compacted = store->Stats();
  EXPECT_LT(compacted->stored_bytes, raw * 80 / 100) << "stored " << compacted->stored_bytes << " of " << raw;
  ExpectAllExact(store.get(), saves);
  ExpectVerifyClean(store.get());
  // A second pass has nothing to do, and saving goes on.
  ASSERT_TRUE(store->Reencode().ok());
  EXPECT_EQ(store->Stats()->encoded_chunks, compacted->encoded_chunks);
  auto more = TrainingSaves(8, 1 << 20);
  CommitFile(store.get(), "model.pt", more[7], 7);
  saves.resize(8);
  saves[7] = more[7];
  ASSERT_TRUE(store->Reencode().ok());
  ExpectAllExact(store.get(), saves);
  ExpectVerifyClean(store.get());
}

TEST(ReencodeTest, AKeyframeServesAFewSavesThenItsRangeGetsANewOne) {
  // FORMAT.md, "Choosing": at most kMaxDependents deltas on one base, and
  // a delta only where its bases cover what the previous save has; so a
  // run of 12 saves has keyframes from more than its first save.
  TempDir dir;
  auto saves = TrainingSaves(12, 1 << 20);
  std::set<ChunkId> ids;
  std::vector<std::set<ChunkId>> per_save;
  {
    auto store = OpenStore(dir.Sub("s"), SmallPacks());
    for (size_t i = 0; i < saves.size(); ++i) CommitFile(store.get(), "model.pt", saves[i], int64_t(i));
    ASSERT_TRUE(store->Reencode().ok());
    ExpectAllExact(store.get(), saves);
    ExpectVerifyClean(store.get());
    auto snaps = store->ListSnapshots();
    ASSERT_TRUE(snaps.ok());
    for (const Snapshot& snap : *snaps) {
      auto reader = store->OpenVersion(VersionIn(store.get(), snap, "model.pt"));
      ASSERT_TRUE(reader.ok());
      per_save.emplace_back();
      for (const auto& c : (*reader)->manifest().chunks) {
        ids.insert(c.id);
        per_save.back().insert(c.id);
      }
    }
  }
  auto env = LmdbEnv::Open(dir.Sub("s") + "/index", 64 << 20, true);
  ASSERT_TRUE(env.ok());
  auto txn = (*env)->BeginRead();
  ASSERT_TRUE(txn.ok());
  size_t bases = 0, bases_after_first = 0, deltas = 0;
  for (const ChunkId& id : ids) {
    auto row = GetChunkRow(**txn, id);
    ASSERT_TRUE(row.ok() && *row);
    EXPECT_LE((*row)->dependents, ReencodeJob::kMaxDependents) << id.Hex();
    if (IsDelta((*row)->location.encoding)) ++deltas;
    if ((*row)->dependents == 0) continue;
    ++bases;
    if (!per_save.front().count(id)) ++bases_after_first;
  }
  EXPECT_GT(deltas, ids.size() / 2) << "most saves are still deltas";
  EXPECT_GT(bases_after_first, 0u) << bases << " bases, all from the first save";
}

TEST(ReencodeTest, AStepFolderFollowsTheEarlierStepFolder) {
  TempDir dir;
  auto saves = TrainingSaves(4, 1 << 19);
  auto store = OpenStore(dir.Sub("s"), SmallPacks());
  const char* names[] = {"run/step_000005/model.pt", "run/step_000010/model.pt", "run/other_000007/model.pt",
                         "run/step_000015/model.pt"};
  std::vector<Snapshot> snaps;
  for (size_t i = 0; i < 4; ++i) snaps.push_back(CommitFile(store.get(), names[i], saves[i], int64_t(i)));
  ASSERT_TRUE(store->Reencode().ok());
  auto st = store->Stats();
  // step 10 follows step 5, step 15 follows step 10 (never the other
  // series, never a later step); other_7 has no predecessor.
  EXPECT_GT(st->delta_chunks, 0u);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(ReadVersion(store.get(), VersionIn(store.get(), snaps[i], names[i])), saves[i]) << names[i];
  ExpectVerifyClean(store.get());
}

struct Record {
  std::string pack;
  uint64_t offset = 0;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> PackFiles(const std::string& store) {
  std::vector<std::string> out;
  for (auto& e : std::filesystem::directory_iterator(store + "/packs")) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Every record of `encoding` in the store's packs, by scanning their
// headers as a recovery tool would.
// The records of the pack files whose encoding passes `which`.
template <typename Which>
std::vector<Record> RecordsOf(const std::string& store, Which which) {
  std::vector<Record> out;
  for (const std::string& p : PackFiles(store)) {
    std::string bytes = ReadFile(p);
    for (size_t at = kPackHeaderSize; at + kRecordHeaderSize <= bytes.size();) {
      ScannedRecord rec;
      if (!DecodeRecordHeader(reinterpret_cast<const uint8_t*>(bytes.data() + at), 0, at, &rec)) break;
      if (which(rec.location.encoding)) out.push_back({p, at});
      at += kRecordHeaderSize + rec.location.stored_len;
    }
  }
  return out;
}

TEST(ReencodeTest, AFlippedByteInADeltaOrItsBaseIsAnErrorNeverBytes) {
  TempDir dir;
  auto saves = TrainingSaves(3, 1 << 19);
  const std::string path = dir.Sub("s");
  {
    auto store = OpenStore(path, SmallPacks());
    for (size_t i = 0; i < saves.size(); ++i) CommitFile(store.get(), "model.pt", saves[i], int64_t(i));
    ASSERT_TRUE(store->Reencode().ok());
    ASSERT_TRUE(store->Gc({}).ok());  // only the encoded records are left
  }
  auto deltas = RecordsOf(path, IsDelta);
  auto keyframes = RecordsOf(path, [](Encoding e) { return e == Encoding::kZstd; });
  ASSERT_FALSE(deltas.empty());
  ASSERT_FALSE(keyframes.empty());
  for (const Record& r : {deltas[0], keyframes[0]}) {
    FlipByte(r.pack, r.offset + kRecordHeaderSize + 200, 0x04);
    auto store = OpenStore(path, SmallPacks());
    // Some version now fails to read; none reads wrong bytes.
    int failed = 0;
    auto snaps = store->ListSnapshots();
    ASSERT_TRUE(snaps.ok());
    for (const Snapshot& s : *snaps) {
      VersionId v = VersionIn(store.get(), s, "model.pt");
      auto reader = store->OpenVersion(v);
      ASSERT_TRUE(reader.ok());
      std::string got(saves[s.step].size(), '\0');
      size_t done = 0;
      Status err;
      while (done < got.size()) {
        auto n = (*reader)->Read(done, got.size() - done, got.data() + done);
        if (!n.ok()) {
          err = n.status();
          break;
        }
        if (*n == 0) break;
        done += *n;
      }
      if (!err.ok()) {
        ++failed;
        EXPECT_TRUE(err.IsCorruption()) << err.ToString();
      } else {
        EXPECT_EQ(got, saves[s.step]) << "snapshot " << s.seq;
      }
    }
    EXPECT_GT(failed, 0);
    auto report = store->Verify();
    ASSERT_TRUE(report.ok());
    EXPECT_FALSE(report->problems.empty());
    FlipByte(r.pack, r.offset + kRecordHeaderSize + 200, 0x04);  // undo
  }
}

TEST(ReencodeTest, PruneAndGcKeepEveryRetainedVersionExact) {
  TempDir dir;
  auto saves = TrainingSaves(6, 1 << 19);
  auto store = OpenStore(dir.Sub("s"), SmallPacks());
  for (size_t i = 0; i < saves.size(); ++i) CommitFile(store.get(), "model.pt", saves[i], int64_t(i));
  ASSERT_TRUE(store->Reencode().ok());
  ASSERT_GT(store->Stats()->delta_chunks, 0u);
  // The first saves hold the keyframes the later ones are deltas on.
  ASSERT_TRUE(store->DropSnapshots({1, 2, 3}).ok());
  ASSERT_TRUE(store->Gc({}).ok());
  ExpectAllExact(store.get(), saves);
  ExpectVerifyClean(store.get());
  // Dropping the rest frees the bases too: nothing is left behind.
  CommitFile(store.get(), "model.pt", "small", 9);
  saves.resize(10);
  saves[9] = "small";
  ASSERT_TRUE(store->DropSnapshots({4, 5, 6}).ok());
  auto gc = store->Gc({});
  ASSERT_TRUE(gc.ok());
  auto st = store->Stats();
  EXPECT_EQ(st->delta_chunks, 0u);
  EXPECT_LE(st->unique_bytes, 5u) << "every chunk of the dropped saves went, bases included";
  ExpectAllExact(store.get(), saves);
  ExpectVerifyClean(store.get());
}

class ReencodeCrashTest : public ::testing::TestWithParam<const char*> {};

TEST_P(ReencodeCrashTest, AKillLosesNothingAndLeavesVerifyClean) {
  TempDir dir;
  const std::string path = dir.Sub("s");
  auto saves = TrainingSaves(4, 1 << 19);
  {
    auto store = OpenStore(path, SmallPacks());
    for (size_t i = 0; i < saves.size(); ++i) CommitFile(store.get(), "model.pt", saves[i], int64_t(i), true);
  }
  int status = RunChild([&] {
    auto store = Store::Open(path, SmallPacks());
    if (!store.ok()) _exit(2);
    setenv("CIUICFS_CRASH_AT", GetParam(), 1);
    (void)(*store)->Reencode();
    _exit(4);
  });
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;
  auto store = OpenStore(path, SmallPacks());
  ExpectAllExact(store.get(), saves);
  ExpectVerifyClean(store.get());
  ASSERT_TRUE(store->Reencode().ok());
  EXPECT_GT(store->Stats()->encoded_chunks, 0u);
  ASSERT_TRUE(store->Gc({}).ok());
  ExpectAllExact(store.get(), saves);
  ExpectVerifyClean(store.get());
}

INSTANTIATE_TEST_SUITE_P(Points, ReencodeCrashTest,
                         ::testing::Values("reencode.before_txn_commit", "reencode.after_txn"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '.') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace ciuicfs
