// Ingest: bytes of one file version -> content-defined chunks -> pinned
// records in packs, and the PendingVersion a commit turns into a visible
// version (FORMAT.md, "Writes and crash consistency", step 1).
#ifndef CIUICFS_STORE_INGEST_INGEST_SESSION_H_
#define CIUICFS_STORE_INGEST_INGEST_SESSION_H_

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "store/base/chunk_id.h"
#include "store/index/rows.h"
#include "store/ingest/chunker.h"

namespace ciuicfs {

class PinTable;

// A finished ingest: its chunks are in packs and pinned, its manifest is in
// memory. It becomes visible when a commit names it; dropping it uncommitted
// releases the pins (the bytes become garbage for gc).
class PendingVersion {
 public:
  PendingVersion(PendingVersion&&) noexcept;
  PendingVersion& operator=(PendingVersion&&) noexcept;
  ~PendingVersion();
  const Manifest& manifest() const { return manifest_; }
  const VersionId& id() const { return manifest_.id; }
  uint64_t size() const { return manifest_.size; }
  // Record bytes (headers + payloads) this ingest appended to packs.
  uint64_t bytes_written() const { return bytes_written_; }
  // The distinct chunk ids this version pins.
  const std::vector<ChunkId>& pinned() const { return pins_; }
  // The chunks this ingest placed in its extent (none without one), by
  // their place there.
  const std::vector<std::pair<ChunkId, PackLocation>>& placed() const { return placed_; }

 private:
  friend class IngestSession;
  explicit PendingVersion(PinTable* table) : table_(table) {}
  void Release();
  PinTable* table_ = nullptr;
  Manifest manifest_;
  std::vector<ChunkId> pins_;
  std::vector<std::pair<ChunkId, PackLocation>> placed_;
  uint64_t bytes_written_ = 0;
};

// Streams one file version into the store. Owned by one thread.
//
// Two stages: Append copies the bytes into the chunker's buffers and finds
// chunk boundaries on the caller's thread; a worker thread started with the
// first chunk hashes each chunk, looks it up and appends new ones to a pack,
// in order. At most kMaxQueuedBytes wait between the stages.
class IngestSession {
 public:
  IngestSession(const Chunker* chunker, PinTable* pins);
  // Ingest in place: the bytes already lie in extent `extent` at their
  // file offsets; a new chunk is not written anywhere, its location is its
  // range of the extent (the background ingest, FORMAT.md "Extents").
  IngestSession(const Chunker* chunker, PinTable* pins, uint32_t extent);
  ~IngestSession();
  Status Append(const void* data, size_t n);
  Result<PendingVersion> Finish();

 private:
  struct Work {
    const uint8_t* data;
    size_t n;
    std::shared_ptr<const void> keep;
  };
  static constexpr size_t kMaxQueuedBytes = 32 << 20;

  Status OnChunk(const uint8_t* data, size_t n, std::shared_ptr<const void> keep);
  Status StoreChunk(const uint8_t* data, size_t n);
  void WorkerLoop();
  Status StopWorker();

  PinTable* pins_;
  uint32_t in_extent_ = 0;
  StreamChunker chunker_;
  Hasher hasher_;  // whole-content hash; worker-owned while it runs
  PendingVersion pending_;
  std::unordered_set<ChunkId, Hash128Hasher> seen_;
  bool finished_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Work> queue_;   // guarded by mu_
  size_t queued_bytes_ = 0;  // guarded by mu_
  bool closing_ = false;     // guarded by mu_
  Status worker_status_;     // guarded by mu_
  std::thread worker_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_INGEST_INGEST_SESSION_H_
