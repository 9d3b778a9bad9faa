// NodeEditor: one Apply's tree operations as edits over the stored nodes
// of the directories they touch (OpenDir), written once at the end: each
// touched directory's leaves re-cut from its first changed leaf to the next
// unchanged cut, its inner levels rebuilt, only nodes with no row yet
// stored. Internal to store/tree/; one per Apply, inside its transaction.
#ifndef CIUICFS_STORE_TREE_NODE_EDITOR_H_
#define CIUICFS_STORE_TREE_NODE_EDITOR_H_

#include <memory>
#include <vector>

#include "store/index/lmdb_env.h"
#include "store/index/rows.h"
#include "store/tree/tree_store.h"

namespace ciuicfs {

class NodeEditor {
 public:
  NodeEditor(Txn& txn, const Hash128& root);
  ~NodeEditor();
  // One operation against the tree as the ones before left it; what it
  // did, in the chain's terms, is appended to `changes`.
  Status Apply(const TreeOp& op, std::vector<Change>* changes);
  // Stores the new nodes; the new root (zero: the empty tree), not yet referenced.
  Result<Hash128> Finish();
  // The references the new nodes hold (for the reference log).
  const RefDeltas& refs() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_TREE_NODE_EDITOR_H_
