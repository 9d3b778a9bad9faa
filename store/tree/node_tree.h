// NodeTreeStore: trees as content-addressed directory nodes (FORMAT.md,
// "Nodes"), so a snapshot stores only the nodes on the paths it changed.
//
// Each directory is a small tree of nodes: leaves hold its entries sorted
// by name, cut after every name whose hash marks a boundary (one in 16 on
// average), and inner levels cut the same way over the leaves' last names.
// The cuts depend only on the names, so a directory's nodes are a function
// of its entries: one entry's change rewrites one leaf and the inner nodes
// above it, whatever the directory's size, and equal directories share
// their nodes (across snapshots and, with branches, across heads).
//
// nodes.refcount counts the references to a node from snapshots (the top
// directory's root), from directory entries in stored leaves and from
// stored inner nodes; manifests.refcount counts the file and symlink
// entries of stored leaves. A node is stored the first time some parent
// needs it and freed when its count falls to zero. A commit does not
// update the rows it references: it appends its increments to the
// reference log, and every 64th commit, and every release, applies the
// log first (FORMAT.md, "Deferred counts"), so a save touches only the
// rows it writes. Stateless; thread-safe.
#ifndef CIUICFS_STORE_TREE_NODE_TREE_H_
#define CIUICFS_STORE_TREE_NODE_TREE_H_

#include "store/tree/tree_store.h"

namespace ciuicfs {

class NodeTreeStore : public TreeStore {
 public:
  Result<std::optional<TreeEntry>> Lookup(Txn& txn, const Hash128& root, std::string_view path) override;
  Result<std::vector<TreeEntry>> List(Txn& txn, const Hash128& root, std::string_view dir) override;
  Result<Tree> Load(Txn& txn, const Hash128& root) override;
  Result<TreeUpdate> Apply(Txn& txn, const Hash128& root, const std::vector<TreeOp>& ops) override;
  Status AddRef(Txn& txn, const Hash128& root) override;
  Status Release(Txn& txn, const Hash128& root) override;
  Status Settle(Txn& txn) override;
  Result<TreeAudit> Audit(Txn& txn, const std::map<Hash128, uint32_t>& root_refs) override;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_TREE_NODE_TREE_H_
