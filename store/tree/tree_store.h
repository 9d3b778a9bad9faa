// TreeStore: the live tree's snapshots as stored trees, behind one
// interface, so commit, gc, verify and the chain never see the encoding
// (node_tree.h is the one in use).
//
// A tree is named by its root id (zero: the empty tree). Apply turns a root
// and a list of operations into a new root, stores what is new, and takes
// one reference on the new root for the caller (the snapshot that will
// name it); AddRef takes another on an existing root; Release gives one
// back and frees what no tree needs any more. Both keep manifests.refcount (tree entries naming a
// version) exact. Every call runs inside the caller's index transaction;
// implementations hold no state between calls and are thread-safe.
#ifndef CIUICFS_STORE_TREE_TREE_STORE_H_
#define CIUICFS_STORE_TREE_TREE_STORE_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/index/lmdb_env.h"
#include "store/index/rows.h"

namespace ciuicfs {

// One resolved change to a tree: the version and size of every file are
// known (commit resolves them).
struct TreeOp {
  enum class Op {
    kPut,     // `entry` at `entry.path`, replacing a file or an empty directory
    kRemove,  // `path` and, for a directory, everything below it
    kRename,  // `from` and everything below it moves to `path`; the moved
              // entry takes `entry.mode` and `entry.mtime_ns`
  };
  Op op = Op::kPut;
  std::string path;
  std::string from;
  TreeEntry entry;
  // For kPut of a file: put (fresh bytes) or link (an existing version).
  ChangeKind change = ChangeKind::kPut;
};

struct TreeUpdate {
  Hash128 root;
  // What the operations did, in the chain's terms: a rename reads as the
  // removal of its source, then the moved entries at their new paths
  // (directories as puts, files as links), depth first.
  std::vector<Change> changes;
  // Every version an entry of a node stored by this update names (a
  // version that is new to the store is in the new tree exactly when it
  // is here).
  std::set<VersionId> versions_named;
};

// What Audit found: every stored tree row checked against the references
// to it, and the versions the stored trees name.
struct TreeAudit {
  uint64_t rows = 0;
  std::map<VersionId, uint32_t> version_uses;    // entries naming each version
  std::map<VersionId, std::string> version_names;  // a name that version has, for messages
  std::map<VersionId, uint64_t> version_pending;   // manifest counts logged, not yet applied
  std::vector<std::string> problems;             // one line each
};

class TreeStore {
 public:
  virtual ~TreeStore() = default;

  // The entry at `path`, nullopt when there is none.
  virtual Result<std::optional<TreeEntry>> Lookup(Txn& txn, const Hash128& root, std::string_view path) = 0;
  // The entries directly inside directory `dir` ("" for the top), sorted.
  virtual Result<std::vector<TreeEntry>> List(Txn& txn, const Hash128& root, std::string_view dir) = 0;
  // Every entry, sorted by path bytes.
  virtual Result<Tree> Load(Txn& txn, const Hash128& root) = 0;
  virtual Result<TreeUpdate> Apply(Txn& txn, const Hash128& root, const std::vector<TreeOp>& ops) = 0;
  virtual Status AddRef(Txn& txn, const Hash128& root) = 0;
  virtual Status Release(Txn& txn, const Hash128& root) = 0;
  // Makes every stored count exact (an implementation may defer the
  // increments of Apply and AddRef; Release settles them itself).
  virtual Status Settle(Txn& txn) = 0;
  // Reads every stored row once: `root_refs` holds each root's references
  // from snapshots; rows whose refcount is not what they are referenced,
  // rows that do not decode and references to missing rows are problems.
  virtual Result<TreeAudit> Audit(Txn& txn, const std::map<Hash128, uint32_t>& root_refs) = 0;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_TREE_TREE_STORE_H_
