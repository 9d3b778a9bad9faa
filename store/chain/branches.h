// Branches: named heads of the chain (FORMAT.md, `branches`, `parents`).
// The chain is a graph: each snapshot names its parent, several snapshots
// may name one parent, and a branch is a name for one snapshot that its
// commits move forward. A branch's *line* is its head, the head's parent,
// and so on to the first snapshot, through the `parents` links (kept when
// a snapshot is dropped, so a line crosses pruned snapshots). A store has
// `main`; a store written before branches has no rows, and its `main` is
// the newest snapshot. Calls run inside the caller's index transaction;
// stateless and thread-safe.
#ifndef CIUICFS_STORE_CHAIN_BRANCHES_H_
#define CIUICFS_STORE_CHAIN_BRANCHES_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "store/chain/branch_name.h"
#include "store/index/lmdb_env.h"

namespace ciuicfs {

class SnapshotChain;

// The branch's head sequence: 0 for a branch with no snapshot yet (main in
// an empty store); NotFound for a branch that does not exist.
Result<uint64_t> BranchHead(Txn& txn, const std::string& name);
// Every branch and its head.
Result<std::map<std::string, uint64_t>> ListBranches(Txn& txn);
Status SetBranchHead(Txn& txn, const std::string& name, uint64_t seq);
// A new branch `name` at snapshot `seq` of `chain` (0: no snapshot yet);
// main gets its row first when this is the first fork. InvalidArgument
// for a bad or existing name, NotFound for a missing snapshot.
Status CreateBranch(Txn& txn, const SnapshotChain& chain, const std::string& name, uint64_t seq);
Status DeleteBranchRow(Txn& txn, const std::string& name);

// The highest sequence ever given (on any branch, dropped or not), 0 when none.
Result<uint64_t> NewestSeq(Txn& txn);
// The parent of snapshot `seq` (0: none), dropped or not.
Result<uint64_t> ParentOf(Txn& txn, uint64_t seq);
Status PutParent(Txn& txn, uint64_t seq, uint64_t parent);
// True when `seq` is `head` or one of its ancestors.
Result<bool> OnLine(Txn& txn, uint64_t seq, uint64_t head);
// The line of `head`, newest first: every sequence back to the first,
// dropped ones included (the caller keeps those it still has).
Result<std::vector<uint64_t>> LineOf(Txn& txn, uint64_t head);
// True once a branch other than main was ever made: then every branch,
// main included, has a row (kept when the other branches are deleted, as
// their tagged snapshots may be). Until then every snapshot is on main's
// line and walks are skipped.
Result<bool> HasForks(Txn& txn);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CHAIN_BRANCHES_H_
