// Refs: names for snapshots (FORMAT.md, `tags`), and ResolveRef, which
// turns what a user typed ("latest", "latest~K", "step-N", a tag, an id
// prefix, a branch) into a snapshot. A tag pins its snapshot: prune refuses
// to drop it; so does a branch head (branches.h). Calls run inside the caller's index
// transaction; stateless and thread-safe.
#ifndef CIUICFS_STORE_CHAIN_REFS_H_
#define CIUICFS_STORE_CHAIN_REFS_H_

#include <map>
#include <string>

#include "store/chain/snapshot_chain.h"
#include "store/index/lmdb_env.h"

namespace ciuicfs {

class Refs {
 public:
  explicit Refs(const SnapshotChain* chain) : chain_(chain) {}

  // Names are 1-64 of [A-Za-z0-9._-], not starting with '.', not "latest",
  // "latest~...", "step-..." or "best-..." (store/record/).
  static Status ValidateTagName(const std::string& name);
  Status SetTag(Txn& txn, const std::string& name, uint64_t seq) const;
  Status DeleteTag(Txn& txn, const std::string& name) const;  // NotFound when absent
  Result<std::map<std::string, uint64_t>> Tags(Txn& txn) const;

  // "latest", "latest~K" (K snapshots before `branch`'s head on its line
  // of retained snapshots), "step-N" (on that line), a tag, a branch name
  // (its head), or an id prefix (>= 8 hex digits).
  Result<Snapshot> Resolve(Txn& txn, const std::string& ref, const std::string& branch = kMainBranch) const;

 private:
  const SnapshotChain* chain_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CHAIN_REFS_H_
