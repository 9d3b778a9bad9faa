// The read path: ChunkReader finds a chunk (the pin table for a version not
// yet committed, else the index) and reads it verified from its pack;
// VersionReader reads one version at any offset by binary search over its
// manifest (FORMAT.md, "Reads").
#ifndef CIUICFS_STORE_INGEST_VERSION_READER_H_
#define CIUICFS_STORE_INGEST_VERSION_READER_H_

#include <cstdint>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/base/task_pool.h"
#include "store/index/rows.h"

namespace ciuicfs {

class ExtentFd;
class LmdbEnv;
class PackStore;
class PinTable;

// Thread-safe.
class ChunkReader {
 public:
  ChunkReader(LmdbEnv* env, PackStore* packs, PinTable* pins)
      : env_(env), packs_(packs), pins_(pins), ahead_(kAheadThreads) {}
  // The chunk's verified bytes; Corruption (never bytes) when they are bad
  // or lost, IOError when the pack cannot be read.
  Status Read(const ChunkId& id, std::string* out);

  // Read, on one of the reader's own threads, for a caller that wants the
  // bytes later (a sequential reader's next chunks).
  struct Fetched {
    Status status;
    std::string bytes;
  };
  std::future<Fetched> ReadLater(const ChunkId& id);
  // Bytes of a chunk read ahead, given back once copied out: a later read
  // ahead fills them again, with no fresh allocation (its page faults and
  // zero fill cost as much as a copy).
  void GiveBack(std::string bytes);

 private:
  // Two: decoding a delta costs a core, and there are two here.
  static constexpr unsigned kAheadThreads = 2;
  LmdbEnv* const env_;
  PackStore* const packs_;
  PinTable* const pins_;
  std::mutex spare_mu_;
  std::vector<std::string> spare_;  // at most kSpare
  static constexpr size_t kSpare = 8;
  TaskPool ahead_;  // last: its queued reads finish before the rest goes
};

// Reads one version: its chunks, or bytes [0, size) of its extent file
// (FORMAT.md, "Extents"). Not thread-safe: one reader per thread, or a lock.
class VersionReader {
 public:
  VersionReader(ChunkReader* chunks, Manifest m) : chunks_(chunks), manifest_(std::move(m)) {}
  // `extent` must stay readable for the reader's life (an open descriptor
  // does, even after the file is removed).
  VersionReader(std::shared_ptr<ExtentFd> extent, Manifest m);
  ~VersionReader();
  // The extent's descriptor while the version is in one (else null).
  const std::shared_ptr<ExtentFd>& extent() const { return extent_; }
  uint64_t size() const { return manifest_.size; }
  const Manifest& manifest() const { return manifest_; }
  // Reads up to `n` bytes at `offset`; returns how many (0 at or past the
  // end). Every chunk is verified; a bad one is an error, never bytes.
  Result<size_t> Read(uint64_t offset, size_t n, char* dst);

 private:
  Result<size_t> ReadExtent(uint64_t offset, size_t n, char* dst);

  // Chunk `i`, verified: the one read ahead when it is that one.
  Status LoadChunk(size_t i);

  ChunkReader* chunks_ = nullptr;
  std::shared_ptr<ExtentFd> extent_;
  Manifest manifest_;
  size_t cached_index_ = SIZE_MAX;
  std::string cached_;
  // A sequential reader's next chunks, read (and decoded) on the chunk
  // reader's threads while the caller copies this one: up to kAheadChunks
  // and kAheadBytes of them, in order.
  static constexpr size_t kAheadChunks = 4;
  static constexpr uint64_t kAheadBytes = 16 << 20;
  void ReadAhead(size_t after);
  std::deque<std::pair<size_t, std::future<ChunkReader::Fetched>>> ahead_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_INGEST_VERSION_READER_H_
