// Helpers shared by the store/ files that read the index inside a
// transaction the caller already holds. Internal to store/.
#ifndef CIUICFS_STORE_INDEX_ACCESS_H_
#define CIUICFS_STORE_INDEX_ACCESS_H_

#include <optional>
#include <string>

#include "store/lmdb_env.h"
#include "store/records.h"

namespace ciuicfs {

// Key of `snapshot_ids`: the id in canonical (hex) byte order, so a hex
// prefix is a key prefix.
std::string SnapshotIdKey(const Hash128& id);
Result<std::optional<Snapshot>> LoadHead(Txn& txn);
Result<Tree> LoadTree(Txn& txn, const Hash128& tree_id, uint32_t* refcount);
Result<Manifest> LoadManifest(Txn& txn, const VersionId& id, uint32_t* refcount);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_INDEX_ACCESS_H_
