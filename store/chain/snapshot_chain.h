// SnapshotChain: the snapshots and their secondary rows (FORMAT.md, `snapshots`,
// `snapshot_ids`, `steps`, `parents`, and branch heads): append, the head, look-ups by
// sequence, step, id prefix and path, and dropping (prune). The chain is
// append-only: a snapshot is never rewritten, only dropped from the
// retained set. Every call runs inside the caller's index transaction;
// stateless and thread-safe.
#ifndef CIUICFS_STORE_CHAIN_SNAPSHOT_CHAIN_H_
#define CIUICFS_STORE_CHAIN_SNAPSHOT_CHAIN_H_

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/chain/branches.h"
#include "store/index/lmdb_env.h"
#include "store/index/rows.h"

namespace ciuicfs {

class SnapshotChain {
 public:
  // The branch's head; nullopt for a branch with no snapshot yet (main in
  // an empty store). NotFound for a branch that does not exist.
  Result<std::optional<Snapshot>> Head(Txn& txn, const std::string& branch = kMainBranch) const;
  Result<Snapshot> Get(Txn& txn, uint64_t seq) const;  // NotFound when absent
  Result<std::vector<Snapshot>> List(Txn& txn) const;  // every retained snapshot, oldest first
  // The retained snapshots on the branch's line (branches.h), oldest first.
  Result<std::vector<Snapshot>> Line(Txn& txn, const std::string& branch) const;
  // The newest snapshot with this step on the branch's line.
  Result<Snapshot> FindByStep(Txn& txn, int64_t step, const std::string& branch = kMainBranch) const;
  // The one snapshot whose hex id starts with `prefix` (8-32 hex digits);
  // NotFound when none, InvalidArgument when several match.
  Result<Snapshot> FindByIdPrefix(Txn& txn, std::string_view prefix) const;
  // (sequence, change) pairs for one path, oldest first: a scan of every
  // snapshot (no save pays for an index of it).
  Result<std::vector<std::pair<uint64_t, Change>>> PathHistory(Txn& txn, std::string_view path) const;

  // Makes `*snap` the branch's new head: its sequence is one past the
  // newest of any branch, its parent (and its step, when `step` is unset)
  // `head`, the branch's head (Head, read by the caller in this transaction); computes its id and writes it with its secondary
  // rows and, where its parent is not the previous sequence, its `parents`
  // link. `snap->tree`, time, bytes_added and changes must be set.
  Status Append(Txn& txn, const std::string& branch, const std::optional<Snapshot>& head, std::optional<int64_t> step,
                Snapshot* snap) const;
  // Deletes one snapshot's rows (its `parents` link is written out and stays) and returns it
  // (its tree is the caller's to release). A branch head cannot be dropped.
  Result<Snapshot> Drop(Txn& txn, uint64_t seq) const;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CHAIN_SNAPSHOT_CHAIN_H_
