// Typed reads and writes of index rows inside a transaction the caller
// holds, and the reference counts of file versions and chunks (FORMAT.md,
// "Reference counts").
//
// The one rule for rows that do not decode: the call that meets one returns
// Corruption naming the database and the key (CorruptRow); nothing skips a
// bad row silently. Verify, whose job is to list damage, reports it as a
// problem and goes on.
#ifndef CIUICFS_STORE_INDEX_QUERIES_H_
#define CIUICFS_STORE_INDEX_QUERIES_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "store/index/keys.h"
#include "store/index/lmdb_env.h"
#include "store/index/rows.h"

namespace ciuicfs {

// "index: undecodable chunks row 0a1b..." (the key in hex).
Status CorruptRow(Db db, std::string_view key);

Result<std::optional<ChunkRow>> GetChunkRow(Txn& txn, const ChunkId& id);
Status PutChunkRow(Txn& txn, const ChunkId& id, const ChunkRow& row);
// Where chunk `id` is now, in a read transaction of its own; Corruption
// when it has no row.
Result<PackLocation> LocateChunk(LmdbEnv* env, const ChunkId& id);
Result<std::optional<PackRow>> GetPackRow(Txn& txn, uint32_t pack);
Status PutPackRow(Txn& txn, uint32_t pack, const PackRow& row);
Result<std::map<uint32_t, PackRow>> LoadPackRows(Txn& txn);
// NotFound when absent.
Result<Manifest> LoadManifest(Txn& txn, const VersionId& id, uint32_t* refcount);

// The counts a change of trees moves: version -> tree entries naming it.
using VersionUses = std::map<VersionId, uint32_t>;

// Stores a new version (refcount 0) and counts its chunks; an existing one
// is left alone. Every chunk must have a row.
Status AddManifest(Txn& txn, const Manifest& m);
// manifests.refcount += n for each version (each must exist).
Status AddVersionRefs(Txn& txn, const VersionUses& uses);
// Every row of a database whose keys are names and whose values are a
// sequence number (tags, branches): name -> sequence.
Result<std::map<std::string, uint64_t>> LoadNamedSeqs(Txn& txn, Db db);

// Adds `n` to the refcount that leads the row of `id` in `db` (manifests,
// nodes); a missing row is Corruption ("a tree names missing <what>").
Status AddRowRefs(Txn& txn, Db db, const Hash128& id, uint64_t n, const char* what);
// manifests.refcount -= n; a version that reaches 0 is deleted and its
// chunks' refcounts drop (rows stay, for gc); one in an extent leaves the
// extent's row (the file stays, for gc).
Status DropVersionRefs(Txn& txn, const VersionUses& uses);

// Extents (FORMAT.md, "Extents"). NotFound-free: a missing row is nullopt.
Result<std::optional<ExtentRow>> GetExtentRow(Txn& txn, uint32_t extent);
// Writes the row, or deletes it when it holds no version and no chunk.
Status PutExtentRow(Txn& txn, uint32_t extent, const ExtentRow& row);
Result<std::map<uint32_t, ExtentRow>> LoadExtentRows(Txn& txn);
// Stores version `id` (refcount 0) as bytes [0, length) of `extent`.
Status AddExtentVersion(Txn& txn, const VersionId& id, uint32_t extent, uint64_t length);
// The background ingest of one extent version: when `ingested.id` still
// has its extent form, its manifest becomes `ingested`'s chunk list (the
// refcount kept, the chunks counted) and it leaves the extent's row.
// Returns whether it did; every chunk must have a row.
Result<bool> ReplaceExtentManifest(Txn& txn, uint32_t extent, const Manifest& ingested);
// Every version in extent `from` now has its bytes in extent `to` (a copy).
Status MoveExtentRows(Txn& txn, uint32_t from, uint32_t to);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_INDEX_QUERIES_H_
