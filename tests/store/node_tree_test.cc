// Directory nodes (FORMAT.md, "Nodes", "Deferred counts"): big directories
// split by name whatever the edit order, a few rows per change, every node
// freed, increments logged and settled exactly.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "tests/store/tree_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

// Big directories are split into nodes by name: equal contents give equal
// roots whatever the edit order, and one entry's change stores a few small
// nodes, not the directory.
TEST(TreeTest, BigDirectoryNodesDependOnlyOnTheEntries) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  const VersionId v = index.AddVersion("v", 7);
  auto name = [](int i) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "checkpoint-%d", i);
    return std::string(buf);
  };
  std::vector<TreeOp> forward, backward;
  for (int i = 0; i < 3000; ++i) forward.push_back(PutFile("out/" + name(i), v, 7));
  for (int i = 2999; i >= 0; --i) backward.push_back(PutFile("out/" + name(i), v, 7));
  TreeUpdate a = index.MustApply({}, forward);
  TreeUpdate b = index.MustApply({}, backward);
  EXPECT_EQ(a.root, b.root);
  const size_t rows = index.TreeRows();
  EXPECT_GT(rows, 3000u / 64);  // split: one leaf per ~16 names, and inner nodes
  EXPECT_EQ(index.List(a.root, "out").size(), 3000u);

  // Built in 150 commits of 20 entries, in a shuffled order: the same
  // nodes again.
  Hash128 root;
  std::vector<int> order(3000);
  for (int i = 0; i < 3000; ++i) order[i] = (i * 1237) % 3000;
  for (size_t k = 0; k < order.size(); k += 20) {
    std::vector<TreeOp> ops;
    for (size_t j = k; j < k + 20; ++j) ops.push_back(PutFile("out/" + name(order[j]), v, 7));
    TreeUpdate u = index.MustApply(root, ops);
    if (!root.IsZero()) ASSERT_TRUE(index.Release(root).ok());
    root = u.root;
  }
  EXPECT_EQ(root, a.root);

  // One change at the start, middle and end of the name order: a handful
  // of new nodes each, and removing it again gives the old root back.
  for (const std::string& changed : {std::string("aaa"), name(1500) + "x", std::string("zzz")}) {
    const size_t before = index.TreeRows();
    TreeUpdate u = index.MustApply(a.root, {PutFile("out/" + changed, v, 7)});
    EXPECT_LE(index.TreeRows() - before, 6u) << changed;
    EXPECT_EQ(index.Lookup(u.root, "out/" + changed)->size, 7u);
    EXPECT_EQ(index.List(u.root, "out").size(), 3001u);
    TreeUpdate back = index.MustApply(u.root, {Remove("out/" + changed)});
    EXPECT_EQ(back.root, a.root) << changed;
  }
  // Every name is found through the inner nodes.
  for (int i = 0; i < 3000; i += 7) EXPECT_TRUE(index.Lookup(a.root, "out/" + name(i)).has_value()) << i;
  EXPECT_FALSE(index.Lookup(a.root, "out/" + name(3000)).has_value());
  EXPECT_FALSE(index.Lookup(a.root, "out/zzzz").has_value());
  EXPECT_FALSE(index.Lookup(a.root, "out/").has_value());

  // Removing most entries merges the leaves back: the same root as a
  // directory built with only the rest.
  std::vector<TreeOp> removals, rest;
  for (int i = 0; i < 3000; ++i) {
    if (i % 100 == 3) rest.push_back(PutFile("out/" + name(i), v, 7));
    else removals.push_back(Remove("out/" + name(i)));
  }
  TreeUpdate thinned = index.MustApply(a.root, removals);
  TreeUpdate direct = index.MustApply({}, rest);
  EXPECT_EQ(thinned.root, direct.root);
}

// Releasing every root frees every node and every version reference:
// nothing is leaked by splitting, sharing or renaming directories.
TEST(TreeTest, ReleasingEveryRootFreesEveryNode) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  const VersionId v = index.AddVersion("v", 1), w = index.AddVersion("w", 2);
  std::vector<Hash128> roots;
  Hash128 root;
  for (int step = 0; step < 40; ++step) {
    std::vector<TreeOp> ops;
    for (int i = 0; i < 50; ++i)
      ops.push_back(PutFile("run/step-" + std::to_string(step) + "/shard-" + std::to_string(i), i % 2 ? v : w, i % 2 ? 1 : 2));
    if (step % 5 == 4) ops.push_back(Rename("run/step-" + std::to_string(step - 1), "kept/step-" + std::to_string(step - 1)));
    if (step % 7 == 6 && (step - 2) % 5 != 3) ops.push_back(Remove("run/step-" + std::to_string(step - 2)));
    TreeUpdate u = index.MustApply(root, ops);
    roots.push_back(u.root);
    root = u.root;
  }
  EXPECT_GT(index.VersionRefs(v).value_or(0), 0u);
  for (const Hash128& r : roots) ASSERT_TRUE(index.Release(r).ok());
  EXPECT_EQ(index.TreeRows(), 0u);
  EXPECT_EQ(index.VersionRefs(v), std::nullopt);
  EXPECT_EQ(index.VersionRefs(w), std::nullopt);
}

// Apply logs its increments instead of updating the rows it names; the
// log is applied every 64 rows, by Settle and by every Release, and the
// counts are the same as if they had been applied at once.
TEST(TreeTest, IncrementsAreLoggedAndSettledExactly) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  const VersionId v = index.AddVersion("v", 1);
  TreeUpdate first = index.MustApply({}, {PutFile("d/a", v, 1)});
  EXPECT_EQ(index.LogRows(), 1u);
  EXPECT_EQ(VersionRefcount(index.env(), v), 0u);  // logged, not applied
  Hash128 root = first.root;
  std::vector<Hash128> roots = {root};
  for (int i = 0; i < 70; ++i) {
    root = index.MustApply(root, {PutFile("d/f" + std::to_string(i), v, 1)}).root;
    roots.push_back(root);
    EXPECT_LT(index.LogRows(), 64u);
  }
  // Settled, the counts are what the stored rows reference (the audit
  // counts the references from the rows themselves).
  EXPECT_EQ(index.VersionRefs(v), index.AuditedUses(roots, v));
  EXPECT_GT(index.VersionRefs(v).value_or(0), 71u);
  EXPECT_EQ(index.LogRows(), 0u);
  EXPECT_EQ(index.TreeRefs(root), 1u);
  // A release settles the rows logged since, then takes its own references.
  roots.push_back(index.MustApply(root, {PutFile("d/last", v, 1)}).root);
  EXPECT_EQ(index.LogRows(), 1u);
  ASSERT_TRUE(index.Release(roots[0]).ok());
  EXPECT_EQ(index.LogRows(), 0u);
  roots.erase(roots.begin());
  EXPECT_EQ(index.VersionRefs(v), index.AuditedUses(roots, v));
}

}  // namespace
}  // namespace ciuicfs
