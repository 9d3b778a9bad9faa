// Pack files: append-only containers of self-describing chunk records
// (FORMAT.md, "Pack file").
//
// PackStore owns the packs/ directory of one store: the active pack that
// new records are appended to, a cache of open read handles, and the
// bookkeeping of which bytes are not yet fdatasync()ed. All methods are
// thread-safe; appends are serialized so records are never interleaved.
#ifndef CIUICFS_STORE_PACK_H_
#define CIUICFS_STORE_PACK_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/chunk_id.h"
#include "store/status.h"

namespace ciuicfs {

enum class Encoding : uint8_t { kRaw = 0, kZstd = 1, kXorDeltaZstd = 2 };

inline constexpr size_t kPackHeaderSize = 16;
inline constexpr size_t kRecordHeaderSize = 64;

// Where a chunk record lives.
struct PackLocation {
  uint32_t pack = 0;
  uint64_t offset = 0;  // of the record header
  uint32_t stored_len = 0;
  uint32_t raw_len = 0;
  Encoding encoding = Encoding::kRaw;
  uint64_t end() const { return offset + kRecordHeaderSize + stored_len; }
};

// A record header as found by a scan.
struct ScannedRecord {
  ChunkId id;
  PackLocation location;
};

std::string PackFileName(uint32_t pack);

class PackStore {
 public:
  // `dir` is the packs/ directory; `next_pack` the number the next created
  // pack gets; packs roll over once they reach `target_size` bytes.
  PackStore(std::string dir, uint32_t next_pack, uint64_t target_size);
  ~PackStore();
  PackStore(const PackStore&) = delete;
  PackStore& operator=(const PackStore&) = delete;

  // Appends one raw-encoded record and returns where it went.
  Result<PackLocation> Append(const ChunkId& id, const uint8_t* data, size_t n);

  // Reads and verifies the chunk at `loc` into `out` (resized to raw_len).
  // Any mismatch with `id` or `loc` is Corruption naming chunk and pack.
  Status Read(const ChunkId& id, const PackLocation& loc, std::string* out);

  // fdatasync()s every pack with unsynced bytes (and the directory if a pack
  // was created); returns each synced pack's durable end.
  Status SyncAll(std::map<uint32_t, uint64_t>* synced_ends);

  // Lists whole records in [from, to) of `pack`, stopping at the first
  // header that is torn or fails its checksum; `*valid_end` is where the
  // whole records stop. Payloads are verified when `verify_payload`.
  Status Scan(uint32_t pack, uint64_t from, uint64_t to, bool verify_payload,
              std::vector<ScannedRecord>* records, uint64_t* valid_end);

  Result<uint64_t> FileSize(uint32_t pack);
  Status Truncate(uint32_t pack, uint64_t size);
  Status Remove(uint32_t pack);
  // Pack numbers of the *.pack files present in the directory.
  Result<std::vector<uint32_t>> ListFiles();

  // The pack new records go to (0 when none is open yet).
  uint32_t active_pack() const;

 private:
  struct Handle;
  Result<std::shared_ptr<Handle>> OpenForRead(uint32_t pack);
  Status OpenNewActive();

  const std::string dir_;
  const uint64_t target_size_;

  mutable std::mutex append_mu_;  // guards the active pack; taken before cache_mu_
  std::shared_ptr<Handle> active_;
  uint64_t active_end_ = 0;
  uint32_t next_pack_;
  bool dir_dirty_ = false;
  std::map<uint32_t, std::pair<std::shared_ptr<Handle>, uint64_t>> unsynced_;  // pack -> end

  std::mutex cache_mu_;
  std::map<uint32_t, std::shared_ptr<Handle>> cache_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_PACK_H_
