// Recovery on open (FORMAT.md, "Writes and crash consistency"): cut every
// pack back to what the index references, delete pack files the index never
// listed, and after a power loss mark the chunk rows whose bytes did not
// reach the disk as lost. Internal to store/.
#ifndef CIUICFS_STORE_RECOVERY_H_
#define CIUICFS_STORE_RECOVERY_H_

#include "store/index/lmdb_env.h"
#include "store/pack/pack_store.h"

namespace ciuicfs {

// Returns the number the next new pack gets (one past every pack listed or
// present). `packs` must have no active pack yet. With `repair` false (the
// store is open in other processes too, whose packs are being written)
// nothing is cut or removed: only the next number is found.
Result<uint32_t> RecoverPacks(LmdbEnv* env, PackStore* packs, bool repair = true);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_RECOVERY_H_
