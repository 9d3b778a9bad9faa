// Opening a store directory (FORMAT.md, "Directory layout"): the marker,
// the LOCK, the format and chunker parameters in `meta`. Internal to store/.
#ifndef CIUICFS_STORE_OPEN_H_
#define CIUICFS_STORE_OPEN_H_

#include <string>

#include "store/index/lmdb_env.h"
#include "store/ingest/chunker.h"

namespace ciuicfs {

// The format this build writes (FORMAT.md, "Format versions").
inline constexpr uint32_t kFormatVersion = 2;

// Checks that `dir` is a store, or (when `create`) makes a new one in a
// missing or empty directory. *marker_format: the format its marker names.
Status PrepareStoreDir(const std::string& dir, bool create, uint32_t* marker_format);
// (Re)writes the marker for kFormatVersion: a temp file renamed over it.
Status WriteMarker(const std::string& dir);
// Writes `dir`/`name` whole or not at all: a temp file, synced, renamed
// over it, then the folder synced.
Status WriteFileDurably(const std::string& dir, const std::string& name, const std::string& text);
// Locks <dir>/LOCK exclusively (a POSIX record lock, owned by the process);
// Busy when another process holds it.
// Returns the fd.
Result<int> LockStore(const std::string& dir);
// For a process that shares the store with others (a mount, on its own
// branch): the lock exclusively when no other process holds it (*alone;
// the caller may repair, then call ShareLock), else shared, waiting up to
// a few seconds for an exclusive holder to finish. Busy when it cannot.
Result<int> LockStoreShared(const std::string& dir, bool* alone);
// Releases a LOCK from LockStore or LockStoreShared.
void UnlockStore(int fd);
// Turns an exclusive LOCK into a shared one.
Status ShareLock(int fd);
// Tries to make a shared LOCK exclusive (true) while this process does
// something only a lone process may (gc); false when others hold it too.
bool TryExclusive(int fd);
// Whether another process holds LOCK (shared or exclusive) now; changes
// no lock (F_GETLK).
bool OthersHoldLock(int fd);
// Reads meta/format and meta/chunker, writing them first for a new index
// (unless `read_only`). `wanted` applies only to a new store. *format: the
// index's format (1 or kFormatVersion).
Status ReadOrInitMeta(LmdbEnv* env, const ChunkerParams& wanted, bool read_only, ChunkerParams* params,
                      uint32_t* format);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_OPEN_H_
