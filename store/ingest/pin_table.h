// PinTable: the in-memory holds (never on disk) that unfinished ingests have
// on the chunks they will reference (FORMAT.md, "pin"), so gc cannot delete
// a chunk between its dedup look-up and the commit that counts it; and the
// pack locations of chunks stored but not yet indexed.
//
// Thread-safe. Lock order: PinTable's mutex is taken before LMDB's writer
// lock (only gc's short delete transaction holds it across one, see
// LockForDelete) and before PackStore's; it is never taken while a
// caller holds either.
#ifndef CIUICFS_STORE_INGEST_PIN_TABLE_H_
#define CIUICFS_STORE_INGEST_PIN_TABLE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "store/base/chunk_id.h"
#include "store/base/status.h"
#include "store/pack/format.h"

namespace ciuicfs {

class LmdbEnv;
class PackStore;
class Txn;

class PinTable {
 public:
  // `can_write` says whether the store takes writes now (read-only stores
  // and stores with a background error do not).
  PinTable(LmdbEnv* env, PackStore* packs, std::function<Status()> can_write);

  // Pins `id`, storing `data` as a new record unless the index (with its
  // bytes present) or another ingest already has it. Returns the record
  // bytes appended (0 if none).
  Result<uint64_t> PinOrStore(const ChunkId& id, const uint8_t* data, size_t n);
  // Pins `id`; unless the index (with its bytes present) or another ingest
  // already has it, its bytes are the ones at `in_place` (an extent's) and
  // nothing is written. Returns whether it took `in_place`.
  Result<bool> PinOrPlace(const ChunkId& id, const PackLocation& in_place);
  void Unpin(const std::vector<ChunkId>& ids);

  // Where the pinned chunk `id` lies while it has no index row.
  std::optional<PackLocation> PendingLocation(const ChunkId& id);
  std::map<ChunkId, PackLocation> PendingLocations(const std::vector<ChunkId>& ids);
  // The commit that indexed these chunks is done.
  void MarkIndexed(const std::vector<ChunkId>& ids);
  // The lowest pack that holds a record no index row names yet
  // (UINT32_MAX when none): gc must not compact it or any later one.
  uint32_t FirstPendingPack();

  // Saves in progress (open IngestSessions): background jobs go slower
  // while there are any.
  void IngestStarted() { ++ingesting_; }
  void IngestEnded() { --ingesting_; }
  bool ingesting() const { return ingesting_.load() > 0; }

  // A store on RADOS (FORMAT.md, "Leases and gc on a shared store"): a
  // look-up takes a chunk from the index only when its row is referenced
  // (refcount > 0), else stores it again; and each pin remembers the
  // commit number `applied_in` read in the look-up's transaction (its
  // since), also when the look-up found no row and the chunk was stored.
  void SetShared(std::function<Result<uint64_t>(Txn&)> applied_in);
  // The lowest since of the pins held now (kNoSince when none).
  uint64_t OldestHold();
  // The packs holding a pinned record no index row names yet.
  std::vector<uint32_t> PendingPacks();
  // The node's lease lapsed: another node's gc may have collected what the
  // pins held now, so a commit that names one of them must fail.
  void MarkAllStale();
  // A collect emptied these packs: pins of records in them are stale.
  void MarkStaleIn(const std::set<uint32_t>& packs);
  bool AnyStale(const std::vector<ChunkId>& ids);
  static constexpr uint64_t kNoSince = UINT64_MAX;

  // Runs `fn` with no pin taken or released meanwhile; `fn` may ask whether
  // a chunk is pinned. gc deletes unreferenced chunk rows inside it.
  Status LockForDelete(const std::function<Status(const std::function<bool(const ChunkId&)>& pinned)>& fn);

 private:
  struct Pin {
    uint32_t count = 0;
    bool pending = false;  // bytes in a pack, no index row yet
    PackLocation location;
    uint64_t since = kNoSince;  // shared stores: the commit number its look-up read
    bool stale = false;         // held through a lapse of the node's lease
  };
  // Under mu_: whether the index has `id` for a look-up to take, and the
  // since such a pin gets.
  Result<bool> IndexHas(const ChunkId& id, uint64_t* since);

  LmdbEnv* const env_;
  PackStore* const packs_;
  const std::function<Status()> can_write_;
  std::mutex mu_;
  std::unordered_map<ChunkId, Pin, Hash128Hasher> pins_;
  std::atomic<int> ingesting_{0};
  std::function<Result<uint64_t>(Txn&)> applied_in_;  // set on a shared store
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_INGEST_PIN_TABLE_H_
