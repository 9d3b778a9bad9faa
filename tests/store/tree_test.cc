// TreeStore operations: puts, look-ups, listings, removal, renames and
// their errors, node and version refcounts, a corrupt node row.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/store/tree_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;

TEST(TreeTest, EmptyRootIsTheEmptyTree) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  EXPECT_TRUE(index.Load(Hash128{}).empty());
  EXPECT_TRUE(index.List(Hash128{}, "").empty());
  EXPECT_EQ(index.Lookup(Hash128{}, "a"), std::nullopt);
  EXPECT_TRUE(index.Release(Hash128{}).ok());
  // Removing everything gives back the zero root and stores nothing.
  const VersionId v = index.AddVersion("v", 10);
  TreeUpdate one = index.MustApply({}, {PutFile("f", v, 10)});
  TreeUpdate none = index.MustApply(one.root, {Remove("f")});
  EXPECT_TRUE(none.root.IsZero());
  EXPECT_EQ(index.TreeRows(), 1u);
}

TEST(TreeTest, PutCreatesParentsAndLookupFindsEntries) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  const VersionId v = index.AddVersion("model", 123);
  const VersionId w = index.AddVersion("opt", 7);
  TreeUpdate u = index.MustApply({}, {PutFile("run/ckpt-1/model.pt", v, 123),
                                      PutFile("run/ckpt-1/opt.pt", w, 7, ChangeKind::kLink), PutDir("logs")});
  ASSERT_FALSE(u.root.IsZero());
  EXPECT_EQ(u.changes,
            (std::vector<Change>{Put("run/ckpt-1/model.pt", v, 123), Link("run/ckpt-1/opt.pt", w, 7), Put("logs")}));

  const Tree tree = index.Load(u.root);
  EXPECT_EQ(Paths(tree),
            (std::vector<std::string>{"logs", "run", "run/ckpt-1", "run/ckpt-1/model.pt", "run/ckpt-1/opt.pt"}));
  for (const char* dir : {"run", "run/ckpt-1", "logs"}) {
    auto e = index.Lookup(u.root, dir);
    ASSERT_TRUE(e.has_value()) << dir;
    EXPECT_EQ(e->kind, EntryKind::kDirectory) << dir;
    EXPECT_TRUE(e->version.IsZero()) << dir;
  }
  auto model = index.Lookup(u.root, "run/ckpt-1/model.pt");
  ASSERT_TRUE(model.has_value());
  EXPECT_EQ(model->kind, EntryKind::kFile);
  EXPECT_EQ(model->version, v);
  EXPECT_EQ(model->size, 123u);
  EXPECT_EQ(model->mode, 0644u);
  EXPECT_EQ(index.Lookup(u.root, "run/ckpt-1/missing"), std::nullopt);
  EXPECT_EQ(index.Lookup(u.root, "run/ckpt"), std::nullopt);
  EXPECT_EQ(index.Lookup(u.root, "ru"), std::nullopt);

  // Replacing a file: the new version at the same path.
  TreeUpdate u2 = index.MustApply(u.root, {PutFile("run/ckpt-1/model.pt", w, 7)});
  auto replaced = index.Lookup(u2.root, "run/ckpt-1/model.pt");
  ASSERT_TRUE(replaced.has_value());
  EXPECT_EQ(replaced->version, w);
  EXPECT_EQ(index.Load(u2.root).size(), tree.size());
  // The old root is untouched.
  EXPECT_EQ(index.Lookup(u.root, "run/ckpt-1/model.pt")->version, v);
}

TEST(TreeTest, PutFileOverNonEmptyDirectoryIsInvalid) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  const VersionId v = index.AddVersion("v", 1);
  TreeUpdate u = index.MustApply({}, {PutFile("d/f", v, 1), PutDir("e")});
  auto bad = index.Apply(u.root, {PutFile("d", v, 1)});
  EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument) << bad.status().ToString();
  // An empty directory may be replaced by a file.
  TreeUpdate ok = index.MustApply(u.root, {PutFile("e", v, 1)});
  EXPECT_EQ(index.Lookup(ok.root, "e")->kind, EntryKind::kFile);
}

TEST(TreeTest, PutBelowAFileIsInvalid) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  const VersionId v = index.AddVersion("v", 1);
  TreeUpdate u = index.MustApply({}, {PutFile("f", v, 1), PutDir("d")});
  for (const TreeOp& op : {PutFile("f/g", v, 1), PutDir("f/sub"), Rename("d", "f/d")}) {
    auto bad = index.Apply(u.root, {op});
    EXPECT_EQ(bad.status().code(), Status::Code::kInvalidArgument) << op.path << ": " << bad.status().ToString();
  }
  EXPECT_EQ(index.Lookup(u.root, "f")->kind, EntryKind::kFile);
}

TEST(TreeTest, ListReturnsOnlyDirectChildren) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  const VersionId v = index.AddVersion("v", 5);
  TreeUpdate u =
      index.MustApply({}, {PutFile("a/b/c", v, 5), PutFile("a/b-x", v, 5), PutFile("a/b.y", v, 5), PutFile("a/d", v, 5),
                           PutFile("ab", v, 5), PutDir("a/b/e"), PutFile("a/b/e/f", v, 5), PutFile("z", v, 5)});
  EXPECT_EQ(index.List(u.root, ""), (std::vector<std::string>{"a", "ab", "z"}));
  EXPECT_EQ(index.List(u.root, "a"), (std::vector<std::string>{"a/b", "a/b-x", "a/b.y", "a/d"}));
  EXPECT_EQ(index.List(u.root, "a/b"), (std::vector<std::string>{"a/b/c", "a/b/e"}));
  EXPECT_EQ(index.List(u.root, "a/b/e"), (std::vector<std::string>{"a/b/e/f"}));
  EXPECT_TRUE(index.List(u.root, "a/b/e/f").empty());
  EXPECT_TRUE(index.List(u.root, "nothing").empty());
  // Load: every entry, sorted by path bytes.
  EXPECT_EQ(Paths(index.Load(u.root)),
            (std::vector<std::string>{"a", "a/b", "a/b-x", "a/b.y", "a/b/c", "a/b/e", "a/b/e/f", "a/d", "ab", "z"}));
}

TEST(TreeTest, RemoveDirectoryRemovesDescendantsOnly) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  const VersionId v = index.AddVersion("v", 5);
  TreeUpdate u = index.MustApply({}, {PutFile("a/b/c", v, 5), PutFile("a/b/d/e", v, 5), PutFile("a/b-x", v, 5),
                                      PutFile("a/bc", v, 5), PutFile("a/f", v, 5)});
  TreeUpdate r = index.MustApply(u.root, {Remove("a/b")});
  EXPECT_EQ(r.changes, std::vector<Change>{Removed("a/b")});
  EXPECT_EQ(Paths(index.Load(r.root)), (std::vector<std::string>{"a", "a/b-x", "a/bc", "a/f"}));
  // A file.
  TreeUpdate r2 = index.MustApply(r.root, {Remove("a/f")});
  EXPECT_EQ(Paths(index.Load(r2.root)), (std::vector<std::string>{"a", "a/b-x", "a/bc"}));
  // A missing path is NotFound, and nothing changes.
  auto missing = index.Apply(r2.root, {Remove("a/b")});
  EXPECT_TRUE(missing.status().IsNotFound()) << missing.status().ToString();
  EXPECT_EQ(index.TreeRefs(r2.root), 1u);
}

TEST(TreeTest, RenameDirectoryIsOneOpMovingEveryDescendantDepthFirst) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  const VersionId v1 = index.AddVersion("v1", 11), v2 = index.AddVersion("v2", 22), v3 = index.AddVersion("v3", 33);
  TreeUpdate u =
      index.MustApply({}, {PutFile("src/a/b/c", v1, 11), PutFile("src/a/b-x", v2, 22), PutFile("src/a/b.y", v3, 33),
                           PutDir("src/a/b/d"), PutFile("src-keep", v1, 11), PutFile("src0/f", v2, 22)});
  const Tree before = index.Load(u.root);

  TreeUpdate r = index.MustApply(u.root, {Rename("src", "dst/new", 0700, 999)});
  // Byte order would put dst/new/a/b-x and dst/new/a/b.y before
  // dst/new/a/b/c ('-' and '.' sort before '/'); depth first does not.
  EXPECT_EQ(r.changes, (std::vector<Change>{Removed("src"), Put("dst/new"), Put("dst/new/a"), Put("dst/new/a/b"),
                                            Link("dst/new/a/b/c", v1, 11), Put("dst/new/a/b/d"),
                                            Link("dst/new/a/b-x", v2, 22), Link("dst/new/a/b.y", v3, 33)}));

  const Tree after = index.Load(r.root);
  EXPECT_EQ(Paths(after),
            (std::vector<std::string>{"dst", "dst/new", "dst/new/a", "dst/new/a/b", "dst/new/a/b-x", "dst/new/a/b.y",
                                      "dst/new/a/b/c", "dst/new/a/b/d", "src-keep", "src0", "src0/f"}));
  // The moved top takes the op's mode and mtime; everything below keeps its own.
  auto top = index.Lookup(r.root, "dst/new");
  ASSERT_TRUE(top.has_value());
  EXPECT_EQ(top->kind, EntryKind::kDirectory);
  EXPECT_EQ(top->mode, 0700u);
  EXPECT_EQ(top->mtime_ns, 999);
  for (const TreeEntry& old : before) {
    if (old.path.rfind("src/", 0) != 0) continue;
    auto moved = index.Lookup(r.root, "dst/new" + old.path.substr(3));
    ASSERT_TRUE(moved.has_value()) << old.path;
    TreeEntry expect = old;
    expect.path = "dst/new" + old.path.substr(3);
    EXPECT_EQ(*moved, expect) << old.path;
  }
  EXPECT_EQ(index.Lookup(r.root, "src"), std::nullopt);
}

TEST(TreeTest, RenameFileIsRemoveThenLink) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  const VersionId v = index.AddVersion("v", 42);
  TreeUpdate u = index.MustApply({}, {PutFile("tmp/model.pt.tmp", v, 42)});
  TreeUpdate r = index.MustApply(u.root, {Rename("tmp/model.pt.tmp", "ckpt/model.pt", 0600, 5)});
  EXPECT_EQ(r.changes, (std::vector<Change>{Removed("tmp/model.pt.tmp"), Link("ckpt/model.pt", v, 42)}));
  EXPECT_EQ(Paths(index.Load(r.root)), (std::vector<std::string>{"ckpt", "ckpt/model.pt", "tmp"}));
  auto moved = index.Lookup(r.root, "ckpt/model.pt");
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->kind, EntryKind::kFile);
  EXPECT_EQ(moved->version, v);
  EXPECT_EQ(moved->size, 42u);
  EXPECT_EQ(moved->mode, 0600u);
}

TEST(TreeTest, RenameToASiblingWithTheSamePrefixIsNotIntoItself) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  const VersionId v = index.AddVersion("v", 3);
  TreeUpdate u = index.MustApply({}, {PutFile("a/b/c", v, 3)});
  TreeUpdate r = index.MustApply(u.root, {Rename("a/b", "a/b-y")});
  EXPECT_EQ(r.changes, (std::vector<Change>{Removed("a/b"), Put("a/b-y"), Link("a/b-y/c", v, 3)}));
  EXPECT_EQ(Paths(index.Load(r.root)), (std::vector<std::string>{"a", "a/b-y", "a/b-y/c"}));
}

TEST(TreeTest, RenameErrors) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  const VersionId v = index.AddVersion("v", 3);
  TreeUpdate u = index.MustApply({}, {PutFile("a/b/c", v, 3), PutFile("z", v, 3), PutDir("y")});
  ASSERT_EQ(index.VersionRefs(v), 2u);
  const size_t rows = index.TreeRows();
  struct Case {
    const char* what;
    TreeOp op;
    Status::Code code;
  };
  const std::vector<Case> cases = {
      {"into its own subtree", Rename("a", "a/b/new"), Status::Code::kInvalidArgument},
      {"into its own child", Rename("a", "a/new"), Status::Code::kInvalidArgument},
      {"onto an existing file", Rename("a", "z"), Status::Code::kInvalidArgument},
      {"onto an existing directory", Rename("a/b", "y"), Status::Code::kInvalidArgument},
      {"onto its own descendant", Rename("a", "a/b/c"), Status::Code::kInvalidArgument},
      {"onto itself", Rename("a", "a"), Status::Code::kInvalidArgument},
      {"a missing path", Rename("nope", "elsewhere"), Status::Code::kNotFound},
      {"a missing path below a file", Rename("z/x", "elsewhere"), Status::Code::kNotFound},
  };
  for (const Case& c : cases) {
    auto r = index.Apply(u.root, {c.op});
    EXPECT_EQ(r.status().code(), c.code) << c.what << ": " << r.status().ToString();
  }
  // None of them stored anything or moved a count.
  EXPECT_EQ(index.TreeRows(), rows);
  EXPECT_EQ(index.TreeRefs(u.root), 1u);
  EXPECT_EQ(index.VersionRefs(v), 2u);
  EXPECT_EQ(Paths(index.Load(u.root)), (std::vector<std::string>{"a", "a/b", "a/b/c", "y", "z"}));
}

TEST(TreeTest, TreeRefcountCountsApplyResultsAndIdenticalTreesShareARow) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  const VersionId v = index.AddVersion("v", 10), w = index.AddVersion("w", 20);
  // The same tree reached by different ops (top-level files: no parent
  // directories whose mtime would differ).
  TreeUpdate a = index.MustApply({}, {PutFile("f", v, 10), PutFile("g", w, 20)});
  const size_t rows = index.TreeRows();
  TreeUpdate b = index.MustApply({}, {PutFile("g", w, 20), PutFile("f", v, 10)});
  TreeUpdate c = index.MustApply({}, {PutFile("f", v, 10), PutFile("x", w, 20), Rename("x", "g", 0644, 100)});
  EXPECT_EQ(a.root, b.root);
  EXPECT_EQ(a.root, c.root);
  EXPECT_EQ(index.TreeRows(), rows);  // the same nodes, shared
  EXPECT_EQ(index.TreeRefs(a.root), 3u);
  // manifests.refcount counts entries over stored nodes: one leaf, one entry each.
  EXPECT_EQ(index.VersionRefs(v), 1u);
  EXPECT_EQ(index.VersionRefs(w), 1u);

  ASSERT_TRUE(index.Release(a.root).ok());
  ASSERT_TRUE(index.Release(a.root).ok());
  EXPECT_EQ(index.TreeRefs(a.root), 1u);
  EXPECT_EQ(index.VersionRefs(v), 1u);
  EXPECT_EQ(index.ChunkRefs(v), 1u);

  // The last reference: the row goes, so do the versions only it named,
  // and their chunks' counts fall (the chunk rows stay for gc).
  ASSERT_TRUE(index.Release(a.root).ok());
  EXPECT_EQ(index.TreeRefs(a.root), std::nullopt);
  EXPECT_EQ(index.TreeRows(), 0u);
  EXPECT_EQ(index.VersionRefs(v), std::nullopt);
  EXPECT_EQ(index.VersionRefs(w), std::nullopt);
  EXPECT_EQ(index.ChunkRefs(v), 0u);
  EXPECT_EQ(index.ChunkRefs(w), 0u);
  // A released tree is gone.
  Status again = index.Release(a.root);
  EXPECT_TRUE(again.IsNotFound()) << again.ToString();
  auto from_gone = index.Apply(a.root, {PutFile("h", v, 10)});
  EXPECT_FALSE(from_gone.ok());
}

TEST(TreeTest, ManifestRefcountCountsTreeEntries) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  const VersionId v1 = index.AddVersion("v1", 1), v2 = index.AddVersion("v2", 2), v3 = index.AddVersion("v3", 3);
  EXPECT_EQ(index.VersionRefs(v1), 0u);
  EXPECT_EQ(index.ChunkRefs(v1), 1u);  // the version's manifest names it once

  // Tree 1: v1 three times (one of them a symlink's target), v2 once.
  TreeOp link = PutFile("d/link", v1, 1);
  link.entry.kind = EntryKind::kSymlink;
  TreeUpdate t1 = index.MustApply({}, {PutFile("a", v1, 1), PutFile("d/b", v1, 1), link, PutFile("c", v2, 2)});
  EXPECT_EQ(index.VersionRefs(v1), 3u);
  EXPECT_EQ(index.VersionRefs(v2), 1u);
  EXPECT_EQ(index.VersionRefs(v3), 0u);

  // Tree 2 from tree 1: c removed, d renamed (the same directory node
  // under a new name), v3 added twice.
  TreeUpdate t2 = index.MustApply(t1.root, {Remove("c"), Rename("d", "e"), PutFile("x", v3, 3), PutFile("y/z", v3, 3)});
  EXPECT_NE(t2.root, t1.root);
  EXPECT_EQ(index.TreeRefs(t1.root), 1u);
  EXPECT_EQ(index.TreeRefs(t2.root), 1u);
  // d's node is e's now, shared by both trees: its two entries count once.
  EXPECT_EQ(index.VersionRefs(v1), 4u);
  EXPECT_EQ(index.VersionRefs(v2), 1u);  // tree 1 only
  EXPECT_EQ(index.VersionRefs(v3), 2u);  // tree 2 only

  // Releasing tree 1 gives back its entries; v2, named by it alone, goes.
  ASSERT_TRUE(index.Release(t1.root).ok());
  EXPECT_EQ(index.TreeRefs(t1.root), std::nullopt);
  EXPECT_EQ(index.VersionRefs(v1), 3u);
  EXPECT_EQ(index.VersionRefs(v2), std::nullopt);
  EXPECT_EQ(index.ChunkRefs(v2), 0u);
  EXPECT_EQ(index.ChunkRefs(v1), 1u);
  EXPECT_EQ(index.VersionRefs(v3), 2u);

  ASSERT_TRUE(index.Release(t2.root).ok());
  EXPECT_EQ(index.TreeRows(), 0u);
  for (const VersionId& v : {v1, v2, v3}) {
    EXPECT_EQ(index.VersionRefs(v), std::nullopt);
    EXPECT_EQ(index.ChunkRefs(v), 0u);
  }
}

TEST(TreeTest, ApplyNamingAMissingVersionFailsAndStoresNothing) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  auto r = index.Apply({}, {PutFile("f", Hash128::Of("never stored"), 1)});
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_EQ(index.TreeRows(), 0u);
}

TEST(TreeTest, UndecodableNodeRowIsCorruptionNamingNodes) {
  TreeIndex index;
  ASSERT_TRUE(index.ok());
  const Hash128 root = Hash128::Of("bad tree");
  Status s = index.env()->Write(
      [&](Txn& txn) { return txn.Put(Db::kNodes, HashKey(root), std::string("\x01\x00\x00\x00\x05", 5)); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto txn = index.env()->BeginRead();
  ASSERT_TRUE(txn.ok());
  auto tree = index.trees().Load(**txn, root);
  EXPECT_TRUE(tree.status().IsCorruption()) << tree.status().ToString();
  EXPECT_NE(tree.status().message().find("nodes"), std::string::npos) << tree.status().message();
  auto missing = index.trees().Load(**txn, Hash128::Of("no tree"));
  EXPECT_TRUE(missing.status().IsNotFound()) << missing.status().ToString();
}

}  // namespace
}  // namespace ciuicfs
