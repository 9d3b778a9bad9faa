// The read path: ChunkReader finds a chunk (the pin table for a version not
// yet committed, else the index) and reads it verified from its pack;
// VersionReader reads one version at any offset by binary search over its
// manifest (FORMAT.md, "Reads").
#ifndef CIUICFS_STORE_INGEST_VERSION_READER_H_
#define CIUICFS_STORE_INGEST_VERSION_READER_H_

#include <cstdint>
#include <future>
#include <memory>
#include <string>

#include "store/index/rows.h"
#include "store/base/status.h"

namespace ciuicfs {

class ExtentFd;
class LmdbEnv;
class PackStore;
class PinTable;

// Thread-safe.
class ChunkReader {
 public:
  ChunkReader(LmdbEnv* env, PackStore* packs, PinTable* pins) : env_(env), packs_(packs), pins_(pins) {}
  // The chunk's verified bytes; Corruption (never bytes) when they are bad
  // or lost, IOError when the pack cannot be read.
  Status Read(const ChunkId& id, std::string* out);

 private:
  LmdbEnv* const env_;
  PackStore* const packs_;
  PinTable* const pins_;
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
  // A sequential reader's next chunk, read (and decoded) on another thread
  // while the caller copies this one.
  struct Ahead {
    Status status;
    std::string bytes;
  };
  size_t ahead_index_ = SIZE_MAX;
  std::future<Ahead> ahead_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_INGEST_VERSION_READER_H_
