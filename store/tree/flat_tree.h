// FlatTreeStore: each tree stored whole, as one sorted list of every entry
// (FORMAT.md, "Tree encoding"), in the `trees` database with a refcount of
// the snapshots that name it. A snapshot therefore costs the size of the
// whole tree; #12 replaces this with per-directory nodes behind the same
// TreeStore interface. Stateless; thread-safe.
#ifndef CIUICFS_STORE_TREE_FLAT_TREE_H_
#define CIUICFS_STORE_TREE_FLAT_TREE_H_

#include "store/tree/tree_store.h"

namespace ciuicfs {

class FlatTreeStore : public TreeStore {
 public:
  Result<std::optional<TreeEntry>> Lookup(Txn& txn, const Hash128& root, std::string_view path) override;
  Result<std::vector<TreeEntry>> List(Txn& txn, const Hash128& root, std::string_view dir) override;
  Result<Tree> Load(Txn& txn, const Hash128& root) override;
  Result<TreeUpdate> Apply(Txn& txn, const Hash128& root, const std::vector<TreeOp>& ops) override;
  Status Release(Txn& txn, const Hash128& root) override;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_TREE_FLAT_TREE_H_
