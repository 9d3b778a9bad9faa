// Prune and garbage collection (FORMAT.md, "Garbage collection"):
// DropSnapshots removes snapshots from the retained set and releases what
// only they referenced; CollectGarbage deletes unreferenced chunk rows,
// then has the background scheduler compact mostly-dead packs
// (background/compact_job.h). Internal to store/ but for the option and
// result types, which store.h shows.
#ifndef CIUICFS_STORE_GC_H_
#define CIUICFS_STORE_GC_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "store/base/chunk_id.h"
#include "store/base/status.h"


namespace ciuicfs {

struct StoreParts;

struct GcOptions {
  double compact_below = 0.5;  // rewrite packs whose live fraction is below this
  // A store on RADOS: how long gc waits for the other nodes' leases to
  // show that no save holds what it deletes (FORMAT.md, "Leases and gc on
  // a shared store") before it gives up.
  std::chrono::milliseconds wait{120000};
};

struct GcStats {
  uint64_t chunks_deleted = 0;
  uint64_t packs_compacted = 0;
  uint64_t packs_deleted = 0;  // on RADOS: packs emptied (cut to their header)
  uint64_t bytes_before = 0;  // pack file bytes
  uint64_t bytes_after = 0;
  uint64_t extents_deleted = 0;  // extent files no version names any more
};

// Never the head, never a tagged snapshot; one transaction.
Status DropSnapshots(const StoreParts& parts, const std::vector<uint64_t>& seqs);
// Removes branch `name` (never main) and drops the snapshots only it
// reached: those of its line on no other branch's line and without a tag.
Status DeleteBranch(const StoreParts& parts, const std::string& name);
// The same inside the caller's write transaction (a shared chain applies
// them as commit objects, cluster/).
class Txn;
Status DropSnapshotsInTxn(const StoreParts& parts, Txn& txn, const std::vector<uint64_t>& seqs);
Status DeleteBranchInTxn(const StoreParts& parts, Txn& txn, const std::string& name);
// `progress` hears the compaction's moved bytes (Store::Gc).
Result<GcStats> CollectGarbage(const StoreParts& parts, const GcOptions& options,
                               const std::function<void(uint64_t done, uint64_t total)>& progress = nullptr);
// The bytes of every pack (object) the backend lists.
uint64_t StoredPackBytes(const StoreParts& parts);
// The pieces gc on a shared store (cluster/shared_gc.h) uses: the chunk
// rows with refcount 0; and, as every node applies a collect, deleting the
// listed chunk rows that are still unreferenced and the listed pack rows
// that still have no live record.
Result<std::vector<ChunkId>> UnreferencedChunksInTxn(Txn& txn);
Status CollectRowsInTxn(Txn& txn, const std::vector<ChunkId>& chunks, const std::vector<uint32_t>& packs,
                        uint64_t* chunks_deleted, uint64_t* packs_emptied);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_GC_H_
