// Format versions (store/FORMAT.md): a format 1 store is refused with one
// line that names `ciuicfs upgrade`, and the upgrade converts it to nodes
// keeping every snapshot, its id and its tree, with exact refcounts.
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "store/base/coding.h"
#include "store/index/keys.h"
#include "store/index/lmdb_env.h"
#include "store/index/queries.h"
#include "store/tree/node_tree.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Rewrites a closed format 2 store the way format 1 kept it: one `trees`
// row per distinct whole tree (refcount: the snapshots naming it),
// manifests counted once per entry of each stored tree, no nodes, meta
// and marker saying 1.
void DowngradeToFormat1(const std::string& dir) {
  auto env = LmdbEnv::Open(dir + "/index", 64 << 20, false);
  ASSERT_TRUE(env.ok()) << env.status().ToString();
  NodeTreeStore nodes;
  Status s = (*env)->Write([&](Txn& txn) -> Status {
    std::vector<Snapshot> snaps;
    CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kSnapshots, "", [&](std::string_view, std::string_view v) {
      Snapshot snap;
      EXPECT_TRUE(DecodeSnapshot(v, &snap));
      snaps.push_back(snap);
      return true;
    }));
    std::map<Hash128, std::pair<uint32_t, std::string>> trees;  // v1 id -> (refcount, encoding)
    std::map<VersionId, uint32_t> uses;
    for (Snapshot& snap : snaps) {
      if (snap.tree.IsZero()) continue;
      auto tree = nodes.Load(txn, snap.tree);
      if (!tree.ok()) return tree.status();
      const std::string encoded = EncodeTree(*tree);
      const Hash128 id = Hash128::Of(encoded);
      auto [it, fresh] = trees.try_emplace(id, 0, encoded);
      ++it->second.first;
      if (fresh)
        for (const TreeEntry& e : *tree)
          if (e.kind != EntryKind::kDirectory) ++uses[e.version];
      snap.tree = id;
      CIUIC_RETURN_IF_ERROR(txn.Put(Db::kSnapshots, SeqKey(snap.seq), EncodeSnapshot(snap)));
    }
    for (auto& [id, row] : trees) CIUIC_RETURN_IF_ERROR(txn.Put(Db::kTrees, HashKey(id), EncodeTreeRow(row.first, row.second)));
    for (auto& [vid, n] : uses) {
      uint32_t rc;
      auto m = LoadManifest(txn, vid, &rc);
      if (!m.ok()) return m.status();
      CIUIC_RETURN_IF_ERROR(txn.Put(Db::kManifests, HashKey(vid), EncodeManifest(*m, n)));
    }
    for (Db db : {Db::kNodes, Db::kRefLog}) {  // format 1 had neither
      std::vector<std::string> keys;
      CIUIC_RETURN_IF_ERROR(txn.Scan(db, "", [&](std::string_view k, std::string_view) {
        keys.emplace_back(k);
        return true;
      }));
      for (const std::string& k : keys) CIUIC_RETURN_IF_ERROR(txn.Del(db, k));
    }
    std::string one;
    PutLE<uint32_t>(&one, 1);
    return txn.Put(Db::kMeta, "format", one);
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::ofstream(dir + "/CIUICFS-STORE", std::ios::trunc) << "ciuicfs store v1\n";
}

TEST(UpgradeTest, Format1IsRefusedThenConvertedKeepingEverySnapshot) {
  TempDir tmp;
  const std::string dir = tmp.Sub("s");
  std::vector<Snapshot> before;
  std::vector<Tree> trees;
  const std::string shared = RandomBytes(7, 300 << 10);
  {
    auto store = OpenStore(dir);
    CommitFile(store.get(), "run/a.pt", shared, 1);
    CommitFile(store.get(), "run/b.pt", shared, 2);  // the same version twice in one tree
    CommitFile(store.get(), "run/deep/x/y/z.pt", RandomBytes(8, 1000), 3);
    CommitRequest mv;
    mv.edits.push_back(TreeEdit::Rename("run/deep", "kept", 0755, 5));
    ASSERT_TRUE(store->Commit(mv).ok());
    CommitRequest rm;
    rm.edits.push_back(TreeEdit::Remove("run/a.pt"));
    ASSERT_TRUE(store->Commit(rm).ok());
    CommitFile(store.get(), "run/a.pt", shared, 6);  // back to an earlier tree's entries
    auto snaps = store->ListSnapshots();
    ASSERT_TRUE(snaps.ok());
    before = *snaps;
    for (const Snapshot& s : before) {
      auto t = store->GetTree(s.tree);
      ASSERT_TRUE(t.ok());
      trees.push_back(*t);
    }
  }
  DowngradeToFormat1(dir);

  // Refused, writable or read-only, with the command that converts it.
  for (bool read_only : {false, true}) {
    StoreOptions o;
    o.read_only = read_only;
    auto refused = Store::Open(dir, o);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(refused.status().message().find("ciuicfs upgrade " + dir), std::string::npos)
        << refused.status().message();
    EXPECT_EQ(refused.status().message().find('\n'), std::string::npos);
  }
  EXPECT_EQ(ReadFile(dir + "/CIUICFS-STORE"), "ciuicfs store v1\n");  // refusing changed nothing

  {
    StoreOptions o;
    o.upgrade = true;
    std::vector<std::pair<uint64_t, uint64_t>> heard;
    o.upgrade_progress = [&](uint64_t done, uint64_t total) { heard.emplace_back(done, total); };
    auto store = Store::Open(dir, o);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    // Snapshot by snapshot, 0 of 6 to 6 of 6.
    ASSERT_EQ(heard.size(), before.size() + 1);
    for (size_t i = 0; i < heard.size(); ++i)
      EXPECT_EQ(heard[i], std::make_pair(uint64_t(i), uint64_t(before.size())));
    auto snaps = (*store)->ListSnapshots();
    ASSERT_TRUE(snaps.ok());
    ASSERT_EQ(snaps->size(), before.size());
    for (size_t i = 0; i < before.size(); ++i) {
      EXPECT_EQ((*snaps)[i].id, before[i].id);
      EXPECT_EQ((*snaps)[i].step, before[i].step);
      EXPECT_EQ((*snaps)[i].changes, before[i].changes);
      auto t = (*store)->GetTree((*snaps)[i].tree);
      ASSERT_TRUE(t.ok());
      EXPECT_EQ(*t, trees[i]) << "snapshot " << before[i].seq;
    }
    // Equal trees share their nodes again: snapshot 6's tree is snapshot 4's.
    EXPECT_EQ((*snaps)[5].tree, (*snaps)[3].tree);
    auto report = (*store)->Verify();
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->ok()) << report->problems.front();
    EXPECT_EQ(ReadVersion(store->get(), Hash128::Of(shared)), shared);
  }
  EXPECT_EQ(ReadFile(dir + "/CIUICFS-STORE"), "ciuicfs store v2\n");

  // A plain open works now; the store takes commits and prune + gc keeps
  // exact counts across the converted snapshots.
  auto store = OpenStore(dir);
  CommitFile(store.get(), "run/c.pt", RandomBytes(9, 5000), 7);
  ASSERT_TRUE(store->DropSnapshots({1, 2, 3}).ok());
  ASSERT_TRUE(store->Gc({}).ok());
  auto report = store->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problems.front();
  auto head = store->Head();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ(VersionIn(store.get(), **head, "kept/x/y/z.pt"), Hash128::Of(RandomBytes(8, 1000)));
}

// The marker is rewritten after the index says format 2: a kill between
// the two leaves a marker saying 1 over a format 2 index, which the next
// upgrade finishes (and a plain open still refuses, naming the command).
TEST(UpgradeTest, MarkerLeftAtOneOverAConvertedIndexIsFinishedByUpgrade) {
  TempDir tmp;
  const std::string dir = tmp.Sub("s");
  { auto store = OpenStore(dir); CommitFile(store.get(), "f", "bytes", 1); }
  std::ofstream(dir + "/CIUICFS-STORE", std::ios::trunc) << "ciuicfs store v1\n";
  EXPECT_FALSE(Store::Open(dir, {}).ok());
  StoreOptions o;
  o.upgrade = true;
  auto store = Store::Open(dir, o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_EQ(ReadFile(dir + "/CIUICFS-STORE"), "ciuicfs store v2\n");
  auto head = (*store)->Head();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ(ReadVersion(store->get(), VersionIn(store->get(), **head, "f")), "bytes");
}

TEST(UpgradeTest, UnknownMarkerIsRefused) {
  TempDir tmp;
  const std::string dir = tmp.Sub("s");
  { auto store = OpenStore(dir); }
  std::ofstream(dir + "/CIUICFS-STORE", std::ios::trunc) << "ciuicfs store v9\n";
  auto s = Store::Open(dir, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("format"), std::string::npos) << s.status().message();
}

}  // namespace
}  // namespace ciuicfs
