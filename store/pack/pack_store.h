// PackStore: chunk records framed into packs on a PackBackend (FORMAT.md,
// "Pack file").
//
// Owns the active packs new records are appended to (rolling over at the
// target size), the record framing and the verified read, and the
// bookkeeping of which bytes are not yet durable. All methods are
// thread-safe. Appends go to one of two lanes, each with its own active
// pack and its own lock: saves (kIngest) and background jobs (kBackground,
// e.g. gc's copies), so a background job neither waits on a save's appends
// nor makes a save wait on its own, and syncing its pack syncs nothing of
// a save's. Records never interleave within a pack.
//
// After a failed append the active pack is abandoned (the next record goes
// to a new pack, never behind a hole). After a failed sync the PackStore is
// failed for good: every later Append and SyncAll returns that error, since
// the bytes it had not synced may be gone while the page cache still shows
// them. Only a reopen of the store (recovery) clears it. On a backend whose
// appends are durable (RADOS), its own packs need no sync call at all, and
// a failed sync of another process's pack fails only that call.
#ifndef CIUICFS_STORE_PACK_PACK_STORE_H_
#define CIUICFS_STORE_PACK_PACK_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/chunk_id.h"
#include "store/base/status.h"
#include "store/pack/backend.h"
#include "store/pack/base_cache.h"
#include "store/pack/format.h"

namespace ciuicfs {

enum class PackLane { kIngest = 0, kBackground = 1 };

class PackStore {
 public:
  // `next_pack` is the number the next created pack gets; packs roll over
  // once they reach `target_size` bytes.
  PackStore(PackBackend* backend, uint32_t next_pack, uint64_t target_size);
  PackStore(const PackStore&) = delete;
  PackStore& operator=(const PackStore&) = delete;

  // Appends one raw-encoded record and returns where it went.
  Result<PackLocation> Append(const ChunkId& id, const uint8_t* data, size_t n,
                              PackLane lane = PackLane::kIngest);
  // Appends a record of any pack encoding whose payload is `payload`
  // (FORMAT.md, "Encoded records"); `base` goes into the header.
  Result<PackLocation> AppendRecord(const ChunkId& id, Encoding encoding, const ChunkId& base, std::string_view payload,
                                    uint32_t raw_len, PackLane lane);
  // The lane's next record goes to a new pack.
  void CloseLane(PackLane lane);

  // Reads and verifies the chunk at `loc` into `out` (resized to raw_len).
  // Any mismatch with `id` or `loc` is Corruption naming chunk and pack.
  // A chunk kept in an extent is read through the extent reader.
  // An encoded record is decoded (a delta's bases found through the base
  // locator) and its decoded bytes are verified.
  Status Read(const ChunkId& id, const PackLocation& loc, std::string* out);
  // The payload of the record at `loc` (never a chunk in an extent), its
  // header checked against `id` and `loc`; the payload itself is not.
  Status ReadStored(const ChunkId& id, const PackLocation& loc, std::string* payload);
  // Where a delta's base chunk is now (the owner of the index sets it).
  using BaseLocator = std::function<Result<PackLocation>(const ChunkId& id)>;
  void SetBaseLocator(BaseLocator locator) { base_locator_ = std::move(locator); }
  // Reads `n` bytes at `offset` of extent `extent` into `dst` (the owner of
  // the extents sets it; set before any read).
  using ExtentReader = std::function<Status(uint32_t extent, uint64_t offset, size_t n, char* dst)>;
  void SetExtentReader(ExtentReader reader) { extent_reader_ = std::move(reader); }

  // Makes every byte appended so far to the packs of `lane` (SyncAll: of
  // both lanes; SyncPacks: of `packs`, also packs this process did not
  // write, such as another mount's) durable; returns each such pack's
  // durable end. A pack removed meanwhile is skipped. Concurrent calls are
  // fine: each returns only once what it asked for is durable.
  Status SyncLane(PackLane lane, std::map<uint32_t, uint64_t>* synced_ends);
  Status SyncAll(std::map<uint32_t, uint64_t>* synced_ends);
  Status SyncPacks(const std::vector<uint32_t>& packs, std::map<uint32_t, uint64_t>* synced_ends);

  // Lists whole records in [from, to) of `pack`, stopping at the first
  // header that is torn or fails its checksum; `*valid_end` is where the
  // whole records stop. Payloads are verified when `verify_payload`.
  Status Scan(uint32_t pack, uint64_t from, uint64_t to, bool verify_payload,
              std::vector<ScannedRecord>* records, uint64_t* valid_end);

  Result<uint64_t> FileSize(uint32_t pack) { return backend_->Size(pack); }
  Status Truncate(uint32_t pack, uint64_t size) { return backend_->Truncate(pack, size); }
  Status Remove(uint32_t pack);
  Result<std::vector<uint32_t>> ListFiles() { return backend_->List(); }
  std::string Name(uint32_t pack) const { return backend_->Name(pack); }

  // The pack the lane's records go to (0 when none is open).
  uint32_t active_pack(PackLane lane = PackLane::kIngest) const;
  // The number the next new pack gets.
  uint32_t next_pack() const;
  // Another process or node made pack `pack`: new packs get higher numbers.
  void NoteTaken(uint32_t pack);
  // The error a failed sync left, or OK.
  Status failed() const;

 private:
  struct Lane {
    mutable std::mutex mu;  // held across the lane's appends; taken before mu_
    uint32_t active = 0;
    uint64_t end = 0;
  };
  Status OpenNewActive(PackLane lane);
  std::string Where(const ChunkId& id, const PackLocation& loc) const;
  struct Written {  // a pack appended to since this PackStore was made
    PackLane lane = PackLane::kIngest;
    uint64_t appended = 0;  // end of the last whole append
    uint64_t durable = 0;   // end known to be on stable storage
  };

  PackBackend* const backend_;
  ExtentReader extent_reader_;
  BaseLocator base_locator_;
  BaseCache bases_;  // of the deltas read last

  const uint64_t target_size_;
  Lane lanes_[2];

  mutable std::mutex mu_;  // guards everything below; never held across I/O
  uint32_t next_pack_;
  std::map<uint32_t, Written> written_;  // until the pack is removed
  Status failed_;
  std::set<uint32_t> failed_foreign_;  // packs of others whose sync failed here
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_PACK_PACK_STORE_H_
