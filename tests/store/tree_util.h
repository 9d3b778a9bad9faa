// The TreeStore test fixture (tree_test, node_tree_test): an index in a
// temp dir with a NodeTreeStore, one-call operations each in its own
// transaction, row counts and refcounts, and TreeOp/Change builders.
#ifndef CIUICFS_TESTS_STORE_TREE_UTIL_H_
#define CIUICFS_TESTS_STORE_TREE_UTIL_H_

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/index/keys.h"
#include "store/index/lmdb_env.h"
#include "store/index/queries.h"
#include "store/tree/node_tree.h"
#include "tests/store/index_util.h"

namespace ciuicfs::testing {

inline TreeOp PutFile(const std::string& path, const VersionId& version, uint64_t size, ChangeKind change = ChangeKind::kPut) {
  TreeOp op;
  op.op = TreeOp::Op::kPut;
  op.path = path;
  op.entry = TreeEntry{path, EntryKind::kFile, 0644, size, 100, version, {}};
  op.change = change;
  return op;
}

inline TreeOp PutDir(const std::string& path) {
  TreeOp op;
  op.op = TreeOp::Op::kPut;
  op.path = path;
  op.entry = TreeEntry{path, EntryKind::kDirectory, 0755, 0, 100, {}, {}};
  return op;
}

inline TreeOp Remove(const std::string& path) {
  TreeOp op;
  op.op = TreeOp::Op::kRemove;
  op.path = path;
  return op;
}

inline TreeOp Rename(const std::string& from, const std::string& to, uint32_t mode = 0755, int64_t mtime_ns = 200) {
  TreeOp op;
  op.op = TreeOp::Op::kRename;
  op.from = from;
  op.path = to;
  op.entry.mode = mode;
  op.entry.mtime_ns = mtime_ns;
  return op;
}

inline Change Put(const std::string& path, const VersionId& v = {}, uint64_t size = 0) {
  return Change{ChangeKind::kPut, path, v, size};
}
inline Change Link(const std::string& path, const VersionId& v, uint64_t size) {
  return Change{ChangeKind::kLink, path, v, size};
}
inline Change Removed(const std::string& path) { return Change{ChangeKind::kRemove, path, {}, 0}; }

inline std::vector<std::string> Paths(const std::vector<TreeEntry>& entries) {
  std::vector<std::string> out;
  for (const TreeEntry& e : entries) out.push_back(e.path);
  return out;
}

// An index in a temp dir, a NodeTreeStore, and helpers that run each call
// in its own write (or read) transaction.
class TreeIndex {
 public:
  bool ok() const { return index_.env != nullptr; }
  LmdbEnv* env() { return index_.env.get(); }
  NodeTreeStore& trees() { return trees_; }

  // A stored version (refcount 0) of one chunk of `size` bytes; the chunk
  // is named after the version.
  VersionId AddVersion(const std::string& name, uint64_t size) {
    Manifest m;
    m.id = Hash128::Of("version " + name);
    m.size = size;
    m.chunks = {{ChunkOf(m.id), size}};
    Status s = env()->Write([&](Txn& txn) {
      CIUIC_RETURN_IF_ERROR(
          PutChunkRow(txn, ChunkOf(m.id), {{1, 16, uint32_t(size), uint32_t(size), Encoding::kRaw}, 0, 0, {}}));
      return AddManifest(txn, m);
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return m.id;
  }
  static ChunkId ChunkOf(const VersionId& v) { return Hash128::Of("chunk of " + v.Hex()); }

  Result<TreeUpdate> Apply(const Hash128& root, const std::vector<TreeOp>& ops) {
    TreeUpdate out;
    Status s = env()->Write([&](Txn& txn) {
      auto update = trees_.Apply(txn, root, ops);
      if (!update.ok()) return update.status();
      out = std::move(*update);
      return Status::Ok();
    });
    if (!s.ok()) return s;
    return out;
  }
  // Apply that must succeed.
  TreeUpdate MustApply(const Hash128& root, const std::vector<TreeOp>& ops) {
    auto update = Apply(root, ops);
    EXPECT_TRUE(update.ok()) << update.status().ToString();
    return update.ok() ? *update : TreeUpdate{};
  }
  Status Release(const Hash128& root) {
    return env()->Write([&](Txn& txn) { return trees_.Release(txn, root); });
  }

  Tree Load(const Hash128& root) {
    Tree out;
    Read([&](Txn& txn) {
      auto tree = trees_.Load(txn, root);
      EXPECT_TRUE(tree.ok()) << tree.status().ToString();
      if (tree.ok()) out = *tree;
    });
    return out;
  }
  std::optional<TreeEntry> Lookup(const Hash128& root, const std::string& path) {
    std::optional<TreeEntry> out;
    Read([&](Txn& txn) {
      auto e = trees_.Lookup(txn, root, path);
      EXPECT_TRUE(e.ok()) << e.status().ToString();
      if (e.ok()) out = *e;
    });
    return out;
  }
  std::vector<std::string> List(const Hash128& root, const std::string& dir) {
    std::vector<std::string> out;
    Read([&](Txn& txn) {
      auto entries = trees_.List(txn, root, dir);
      EXPECT_TRUE(entries.ok()) << entries.status().ToString();
      if (entries.ok()) out = Paths(*entries);
    });
    return out;
  }

  // Applies the reference log (Apply defers its increments).
  void Settle() {
    Status s = env()->Write([&](Txn& txn) { return trees_.Settle(txn); });
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  // Uses of `v` over the stored rows, from an audit given `roots` (each
  // referenced once); the audit must find nothing wrong.
  std::optional<uint32_t> AuditedUses(const std::vector<Hash128>& roots, const VersionId& v) {
    std::optional<uint32_t> out;
    Read([&](Txn& txn) {
      std::map<Hash128, uint32_t> refs;
      for (const Hash128& r : roots) ++refs[r];
      auto audit = trees_.Audit(txn, refs);
      ASSERT_TRUE(audit.ok()) << audit.status().ToString();
      for (const std::string& p : audit->problems) ADD_FAILURE() << p;
      auto it = audit->version_uses.find(v);
      if (it != audit->version_uses.end()) out = it->second;
    });
    return out;
  }
  // Rows of the reference log.
  size_t LogRows() {
    size_t n = 0;
    Read([&](Txn& txn) {
      Status s = txn.Scan(Db::kRefLog, "", [&](std::string_view, std::string_view) {
        ++n;
        return true;
      });
      EXPECT_TRUE(s.ok()) << s.ToString();
    });
    return n;
  }

  // nodes.refcount of root node `root` once settled; nullopt when it has no row.
  std::optional<uint32_t> TreeRefs(const Hash128& root) {
    Settle();
    std::optional<uint32_t> out;
    Read([&](Txn& txn) {
      auto v = txn.Get(Db::kNodes, HashKey(root));
      ASSERT_TRUE(v.ok()) << v.status().ToString();
      uint32_t rc;
      if (*v) {
        ASSERT_TRUE(RowRefcount(**v, &rc));
        out = rc;
      }
    });
    return out;
  }
  size_t TreeRows() {
    size_t n = 0;
    Read([&](Txn& txn) {
      Status s = txn.Scan(Db::kNodes, "", [&](std::string_view, std::string_view) {
        ++n;
        return true;
      });
      EXPECT_TRUE(s.ok()) << s.ToString();
    });
    return n;
  }
  // manifests.refcount of `v` once settled; chunks.refcount of the chunk of `v`.
  std::optional<uint32_t> VersionRefs(const VersionId& v) {
    Settle();
    return VersionRefcount(env(), v);
  }
  std::optional<uint32_t> ChunkRefs(const VersionId& v) { return ChunkRefcount(env(), ChunkOf(v)); }

 private:
  void Read(const std::function<void(Txn&)>& fn) { InRead(env(), fn); }

  TestIndex index_;
  NodeTreeStore trees_;
};


}  // namespace ciuicfs::testing

#endif  // CIUICFS_TESTS_STORE_TREE_UTIL_H_
