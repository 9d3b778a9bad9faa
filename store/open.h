// Opening a store directory (FORMAT.md, "Directory layout"): the marker,
// the LOCK, the format and chunker parameters in `meta`. Internal to store/.
#ifndef CIUICFS_STORE_OPEN_H_
#define CIUICFS_STORE_OPEN_H_

#include <string>

#include "store/index/lmdb_env.h"
#include "store/ingest/chunker.h"

namespace ciuicfs {

// Checks that `dir` is a store, or (when `create`) makes a new one in a
// missing or empty directory.
Status PrepareStoreDir(const std::string& dir, bool create);
// flock()s <dir>/LOCK; Busy when another process holds it. Returns the fd.
Result<int> LockStore(const std::string& dir);
// Reads meta/format and meta/chunker, writing them first for a new index
// (unless `read_only`). `wanted` applies only to a new store.
Status ReadOrInitMeta(LmdbEnv* env, const ChunkerParams& wanted, bool read_only, ChunkerParams* params);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_OPEN_H_
