// Property tests of stored trees, for every TreeStore encoding (today's
// FlatTreeStore and the per-directory nodes of #12): seeded random edit
// sequences go through Store::Commit and through a plain in-memory model
// (std::map path -> entry) with the semantics of store/tree/flat_tree.cc
// and store/commit.cc. After every commit the snapshot's tree must equal the
// model: whole (GetTree), path by path (LookupInTree, also for missing
// paths) and directory by directory (ListTreeDir) for a sample, and its
// changes must be the ones TreeStore promises. Invalid edits must fail with
// the model's error and change nothing. Every retained snapshot's tree is
// checked again at the end, after dropping a random subset + gc (verify
// clean, exact version counts), and after closing and reopening the store.
//
// A failure names its seed; CIUICFS_TREE_SEED=N reruns only seed N, and
// CIUICFS_TREE_SCALE=K runs K times as many commits.
#include "tests/store/tree_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "store/commit.h"
#include "store/index/rows.h"
#include "store/ingest/ingest_session.h"
#include "store/store.h"
#include "tests/store/test_util.h"
#include "tests/store/tree_harness.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;
using namespace ciuicfs::tree_model;

#define STOP_ON_FAILURE()                      \
  do {                                         \
    if (::testing::Test::HasFailure()) return; \
  } while (0)

// ---------------------------------------------------------------------------

// Mostly single edits on a tree of a few hundred entries, a fifth of the
// commits several edits at once, a tenth of the edits invalid.
TEST(TreeModelTest, RandomEditsMatchTheModel) {
  for (uint64_t seed : Seeds({101, 102, 103})) {
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun: CIUICFS_TREE_SEED=" + std::to_string(seed) + ")");
    Harness h(seed);
    Profile prof;
    prof.max_entries = 300;
    for (int i = 0; i < Scaled(250); ++i) {
      h.Commit(h.RandomEdits(h.P(0.2) ? 2 + h.U(5) : 1, prof));
      STOP_ON_FAILURE();
    }
    h.Finale(prof);
    STOP_ON_FAILURE();
  }
}

// Paths 8 to 20 deep; subtrees renamed between deep places, up and down.
TEST(TreeModelTest, DeepPathsMatchTheModel) {
  for (uint64_t seed : Seeds({201, 202})) {
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun: CIUICFS_TREE_SEED=" + std::to_string(seed) + ")");
    Harness h(seed);
    Profile prof;
    prof.min_depth = 8;
    prof.max_depth = 20;
    prof.max_entries = 250;
    // A 40-deep chain with a file at every fifth level, and a 9-deep one.
    std::vector<Edit> first;
    std::string chain;
    for (int d = 0; d < 40; ++d) {
      chain = Join(chain, "l" + std::to_string(d));
      if (d % 5 == 4) first.push_back(h.PutSome(Join(chain, "f"), 1.0));
    }
    first.push_back(h.PutSome("p/q/r/s/t/u/v/w/x", 1.0));
    ASSERT_TRUE(h.Commit(first));
    // a deep subtree moved up, one moved deeper, both in one commit
    std::vector<Edit> moves;
    moves.push_back(Harness::Rename("l0/l1/l2/l3/l4/l5/l6/l7/l8/l9/l10", "top",
                                    0700, h.Tick()));
    moves.push_back(
        Harness::Rename("p/q/r", "top/l11/l12/pqr", 0755, h.Tick()));
    ASSERT_TRUE(h.Commit(moves));
    STOP_ON_FAILURE();
    ASSERT_FALSE(h.Commit({Harness::Rename("top", "top/l11/l12/pqr/s/t/top",
                                           0755, h.Tick())}));  // into itself
    ASSERT_FALSE(h.Commit(
        {h.PutSome("top/l11/l12/l13/l14/f/below", 1.0)}));  // below a file
    STOP_ON_FAILURE();
    for (int i = 0; i < Scaled(150); ++i) {
      h.Commit(h.RandomEdits(h.P(0.2) ? 2 + h.U(4) : 1, prof));
      STOP_ON_FAILURE();
    }
    h.Finale(prof);
    STOP_ON_FAILURE();
  }
}

// One directory of 2,000-5,000 entries (some of them directories with
// entries of their own), between siblings whose names sort around it;
// batches of inserts, removes and renames at the start, in the middle and
// at the end of its name order, entries moved out to and in from a deep
// directory, the whole directory moved deep and back, single edits too.
TEST(TreeModelTest, BigDirectoryMatchesTheModel) {
  for (uint64_t seed : Seeds({301, 302})) {
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun: CIUICFS_TREE_SEED=" + std::to_string(seed) + ")");
    Harness h(seed);
    Profile prof;
    prof.max_entries = 6000;
    // random puts reach the big directory when it lives deep too
    prof.max_depth = 14;
    prof.invalid_weight = 4;
    std::string big = "w/big";
    const std::string elsewhere = "w/out/d1/d2/d3/d4/d5/d6/d7/d8";
    const std::string deep_home = "deep/a/b/c/d/e/f/g/big";
    h.focus_dirs() = {big, elsewhere, "w"};
    h.protected_paths() = {big};

    std::vector<Edit> first;
    for (int i = 0; i < 40; ++i)
      first.push_back(h.PutSome("pool/v" + std::to_string(i), 1.0));
    for (const char* sibling :
         {"w/big-0", "w/big.x", "w/bigger", "w/bia", "w/big0"})
      first.push_back(h.PutSome(sibling, 1.0));
    ASSERT_TRUE(h.Commit(first));
    first.clear();
    first.push_back(Harness::PutDir(big, 0755, h.Tick()));
    for (int i = 0; i < 3000; ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "e%05d", 2 * i);
      if (i % 250 == 7) {
        for (const char* child : {"a", "b", "c/d"})
          first.push_back(h.PutSome(Join(Join(big, name), child), 0.0));
      } else {
        first.push_back(h.PutSome(Join(big, name), 0.01));
      }
    }
    ASSERT_TRUE(h.Commit(first));
    STOP_ON_FAILURE();

    int counter = 0;
    auto children = [&] { return ModelList(h.model(), big); };
    auto fresh_name = [&](const char* prefix) {
      char name[32];
      std::snprintf(name, sizeof name, "%s%05d", prefix, ++counter);
      return std::string(name);
    };
    size_t min_kids = 1 << 30, max_kids = 0;
    for (int round = 0; round < Scaled(70); ++round) {
      std::vector<TreeEntry> kids = children();
      const size_t n = kids.size();
      // The first half mostly grows the directory towards 5,000 entries, the
      // second half mostly shrinks it towards 2,000.
      const bool grow = round < Scaled(70) / 2;
      if (!grow) min_kids = std::min(min_kids, n);
      max_kids = std::max(max_kids, n);
      std::vector<Edit> edits;
      // 0: start, 1: middle, 2: end of the name order
      const int where = static_cast<int>(h.U(3));
      auto run_start = [&](size_t len) -> size_t {
        len = std::min(len, n);
        if (where == 0) return 0;
        if (where == 2) return n - len;
        return h.U(n - len + 1);
      };
      // A fifth of the rounds: random edits (mostly inside the big directory).
      int kind = h.P(0.2) ? -1 : static_cast<int>(h.U(11));
      if (kind >= 0 && h.P(0.5)) kind = grow ? 0 : 1 + static_cast<int>(h.U(2));
      std::string moved_to;
      if (kind == 0 && n < 4600) {  // insert a run
        size_t len = std::min<size_t>(1 + h.U(400), 4900 - n);
        std::string after = kids[run_start(1)].path;
        for (size_t i = 0; i < len; ++i) {
          std::string name = where == 0   ? fresh_name("A")
                             : where == 2 ? fresh_name("z")
                                          : "";
          std::string path =
              name.empty() ? after + "+" + fresh_name("") : Join(big, name);
          edits.push_back(h.P(0.05)
                              ? Harness::PutDir(path, h.DirMode(), h.Tick())
                              : h.PutSome(path, 0.05));
        }
      } else if (kind == 1 && n > 2400) {  // remove a run
        size_t len = std::min<size_t>(1 + h.U(400), n - 2100),
               start = run_start(len);
        for (size_t i = start; i < start + len && i < n; ++i)
          edits.push_back(Harness::Remove(kids[i].path));
      } else if (kind == 2 && n > 2100) {  // remove scattered entries
        std::set<size_t> pick;
        for (int i = 0; i < 60; ++i) pick.insert(h.U(n));
        for (size_t i : pick) edits.push_back(Harness::Remove(kids[i].path));
      } else if (kind == 3) {
        // rename a run to the other end, or into the middle
        size_t len = 1 + h.U(200), start = run_start(len);
        const char* prefix = where == 2 ? "A" : where == 0 ? "z" : "m";
        for (size_t i = start; i < start + len && i < n; ++i)
          edits.push_back(Harness::Rename(kids[i].path,
                                          Join(big, fresh_name(prefix)),
                                          h.FileMode(), h.Tick()));
      } else if (kind == 4) {  // move a run out to a deep directory
        size_t len = 1 + h.U(60), start = run_start(len);
        for (size_t i = start; i < start + len && i < n; ++i)
          edits.push_back(Harness::Rename(kids[i].path,
                                          Join(elsewhere, fresh_name("o")),
                                          h.FileMode(), h.Tick()));
      } else if (kind == 5) {  // move entries back in, between existing names
        std::vector<TreeEntry> out = ModelList(h.model(), elsewhere);
        for (size_t i = 0; i < out.size() && i < 80; ++i)
          edits.push_back(Harness::Rename(
              out[i].path, kids[h.U(n)].path + "." + fresh_name(""),
              out[i].mode, h.Tick()));
        if (edits.empty())
          edits.push_back(h.PutSome(Join(elsewhere, fresh_name("o")), 0.5));
      } else if (kind == 6) {
        // overwrite entries in place: new versions, modes, kinds
        std::set<size_t> pick;
        for (int i = 0; i < 40; ++i)
          pick.insert(
              std::min(n - 1, run_start(40) + h.U(std::min<size_t>(40, n))));
        for (size_t i : pick) {
          const TreeEntry& k = kids[i];
          if (k.kind == EntryKind::kDirectory)
            edits.push_back(Harness::PutDir(k.path, h.DirMode(), h.Tick()));
          else if (h.P(0.1))
            edits.push_back(Harness::PutDir(k.path, h.DirMode(), h.Tick()));
          else
            edits.push_back(h.PutSome(k.path, 0.1));
        }
      } else if (kind == 7) {  // the whole directory moves deep, or back
        std::string to = big == "w/big" ? deep_home : "w/big";
        edits.push_back(Harness::Rename(big, to, h.DirMode(), h.Tick()));
        if (h.P(0.5))
          edits.push_back(h.PutSome(Join(to, fresh_name("m")), 0.5));
        moved_to = to;
      } else if (kind == 8) {
        // a child directory with entries renamed, to the start or the end
        std::vector<const TreeEntry*> dirs;
        for (const TreeEntry& k : kids)
          if (k.kind == EntryKind::kDirectory) dirs.push_back(&k);
        if (!dirs.empty()) {
          const TreeEntry* d = dirs[h.U(dirs.size())];
          edits.push_back(Harness::Rename(
              d->path, Join(big, fresh_name(h.P(0.5) ? "A" : "z")), 0750,
              h.Tick()));
          edits.push_back(
              h.PutSome(Join(edits.back().path, fresh_name("new")), 0.5));
        }
      } else if (kind == 9) {
        // a doomed batch: many good edits, then one that fails
        for (int i = 0; i < 100; ++i)
          edits.push_back(Harness::Remove(kids[1 + h.U(n - 2)].path));
        std::sort(edits.begin(), edits.end(),
                  [](const Edit& a, const Edit& b) { return a.path < b.path; });
        edits.erase(std::unique(edits.begin(), edits.end(),
                                [](const Edit& a, const Edit& b) {
                                  return a.path == b.path;
                                }),
                    edits.end());
        edits.push_back(
            Harness::Rename(kids[0].path, kids[n - 1].path, 0644, h.Tick()));
        EXPECT_FALSE(h.Commit(edits)) << "a doomed batch went through";
        STOP_ON_FAILURE();
        continue;
      }
      if (edits.empty()) edits = h.RandomEdits(1 + h.U(3), prof);
      if (h.Commit(edits) && !moved_to.empty()) {
        big = moved_to;
        h.focus_dirs()[0] = big;
        h.protected_paths()[0] = big;
      }
      STOP_ON_FAILURE();
      ASSERT_TRUE(h.model().count(big))
          << "test bug: the big directory is gone";
      // Between batches, a few single-edit commits at the edges.
      if (h.P(0.3)) {
        kids = children();
        if (!kids.empty()) {
          h.Commit({Harness::Remove(h.P(0.5) ? kids.front().path
                                             : kids.back().path)});
          h.Commit(
              {h.PutSome(Join(big, fresh_name(h.P(0.5) ? "A" : "z")), 0.5)});
        }
        STOP_ON_FAILURE();
      }
    }
    std::printf("  the big directory grew to %zu entries, then shrank to %zu\n",
                max_kids, min_kids);
    // about 2,000 to 5,000; single random edits may go a little past
    EXPECT_GE(min_kids, 1900u);
    EXPECT_LE(max_kids, 5100u);
    h.Finale(prof);
    STOP_ON_FAILURE();
  }
}

// Several edits per commit, later ones depending on earlier ones: a
// directory made, filled, renamed, partly removed and renamed again inside
// one commit; a commit to the empty tree; an empty commit; a commit whose
// last edit fails, fresh versions and all.
TEST(TreeModelTest, MultiEditCommitsMatchTheModel) {
  for (uint64_t seed : Seeds({401, 402})) {
    SCOPED_TRACE("seed " + std::to_string(seed) +
                 " (rerun: CIUICFS_TREE_SEED=" + std::to_string(seed) + ")");
    Harness h(seed);
    Profile prof;
    prof.max_entries = 300;
    prof.invalid_weight = 2;
    // Made and removed in one commit: the empty tree, root zero.
    ASSERT_TRUE(h.Commit({Harness::PutDir("tmp", 0700, h.Tick()),
                          Harness::PutDir("tmp/a/b", 0755, h.Tick()),
                          Harness::Remove("tmp")}));
    Edit f = h.PutSome("p/q/f", 1.0);
    Edit g = h.PutSome("p/g", 1.0);
    ASSERT_TRUE(h.Commit({
        Harness::PutDir("p", 0700, h.Tick()),
        f,
        g,
        h.PutExisting("p/q/f2", EntryKind::kFile, 0600, h.Tick(), f.version(),
                      f.bytes.size()),  // fresh in this commit
        Harness::Rename("p", "r/s", 0750, h.Tick()),
        Harness::Remove("r/s/q/f"),  // its version stays, at r/s/q/f2
        // a re-put keeps the entries below
        Harness::PutDir("r/s", 0755, h.Tick()),
        Harness::Rename("r/s/q", "t/u/v/w/q", 0755, h.Tick()),
        Harness::Rename("r/s/g", "t/u/g", 0644, h.Tick()),
        // a directory where a file was
        Harness::PutDir("r/s/g", 0700, h.Tick()),
        h.PutSome("r/s/g/h", 1.0),
    }));
    ASSERT_TRUE(h.Commit({}));  // no edits: the same tree again
    // Valid edits, fresh versions among them, then one that fails: nothing.
    EXPECT_FALSE(h.Commit(
        {h.PutSome("x/y", 1.0), Harness::Rename("t", "t2", 0755, h.Tick()),
         h.PutSome("x/z", 1.0), Harness::Remove("t")}));  // t was renamed away
    EXPECT_FALSE(h.Commit(
        {h.PutSome("x/y", 1.0),
         Harness::Rename("t", "x/y/t", 0755, h.Tick())}));  // below a file
    EXPECT_FALSE(h.Commit(
        {h.PutSome("ok", 1.0),
         Harness::Remove("")}));  // a bad path fails before anything runs
    STOP_ON_FAILURE();
    for (int i = 0; i < Scaled(80); ++i) {
      h.Commit(h.RandomEdits(2 + h.U(11), prof));
      STOP_ON_FAILURE();
    }
    h.Finale(prof);
    STOP_ON_FAILURE();
  }
}

// A commit that ingests a fresh version and, in a later edit of the same
// commit, replaces or removes it keeps neither its manifest nor its chunks'
// counts: no tree names it.
TEST(TreeModelTest, AFreshVersionReplacedInItsOwnCommitIsNotKept) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  PendingVersion a = Ingest(store.get(), RandomBytes(1, 5000));
  PendingVersion b = Ingest(store.get(), RandomBytes(2, 5000));
  CommitRequest req;
  req.edits.push_back(TreeEdit::PutFile("f", 0644, 1, &a));
  req.edits.push_back(TreeEdit::PutFile("f", 0644, 2, &b));
  ASSERT_TRUE(store->Commit(req).ok());
  EXPECT_EQ(store->Stats()->versions, 1u);
  EXPECT_TRUE(store->GetManifest(a.id()).status().IsNotFound());
  auto report = store->Verify();
  ASSERT_TRUE(report.ok());
  for (const std::string& p : report->problems) ADD_FAILURE() << p;
}

// Commit accepts paths up to 4096 bytes; a path past LMDB's 511-byte key
// limit gets a `paths` key of its start and its hash (FORMAT.md).
TEST(TreeModelTest, APathLongerThan500BytesCanBeCommitted) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  const std::string path = "run/" + std::string(250, 'a') + "/" +
                           std::string(250, 'b') + "/model.pt";  // 514 bytes
  PendingVersion v = Ingest(store.get(), "weights");
  CommitRequest req;
  req.edits.push_back(TreeEdit::PutFile(path, 0644, 1, &v));
  auto snap = store->Commit(req);
  EXPECT_TRUE(snap.ok()) << snap.status().ToString();
  CommitFile(store.get(), "short", "x");  // the store goes on either way
  if (!snap.ok()) return;
  auto e = store->LookupInTree(snap->tree, path);
  ASSERT_TRUE(e.ok() && e->has_value());
  EXPECT_EQ(ReadVersion(store.get(), (*e)->version), "weights");
  EXPECT_EQ(store->PathHistory(path)->size(), 1u);
}

}  // namespace
}  // namespace ciuicfs
