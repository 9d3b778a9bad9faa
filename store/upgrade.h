// Upgrade: converts a format 1 store (one whole tree per snapshot, the
// `trees` database) to format 2 (directory nodes, `nodes`) in one index
// transaction (FORMAT.md, "Format versions"). Internal to store/; reached
// through StoreOptions::upgrade (`ciuicfs upgrade STORE`).
#ifndef CIUICFS_STORE_UPGRADE_H_
#define CIUICFS_STORE_UPGRADE_H_

#include <cstdint>
#include <functional>

#include "store/index/lmdb_env.h"
#include "store/tree/tree_store.h"

namespace ciuicfs {

// Every snapshot's tree rewritten as nodes (ids, steps, changes and
// sequence numbers kept), the `trees` rows dropped with the references
// they held, meta/format set to 2 and meta/converted_through to the head's
// sequence. Runs inside the caller's write transaction. `progress` (may be
// empty) hears the snapshots converted and the number to convert.
Status ConvertFormat1(Txn& txn, TreeStore* trees,
                      const std::function<void(uint64_t done, uint64_t total)>& progress = nullptr);

// The highest sequence converted from format 1 (0: none). Those
// snapshots' ids were computed over their format 1 tree ids, so they
// cannot be recomputed from what is stored now.
Result<uint64_t> ConvertedThrough(Txn& txn);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_UPGRADE_H_
