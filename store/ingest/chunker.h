// Content-defined chunking (FastCDC-style gear hash with normalized
// chunking); the algorithm and its constants are part of the format, see
// FORMAT.md "Chunking".
//
// Chunker is immutable after construction and safe to share between
// threads. StreamChunker belongs to one writer: it accepts bytes in pieces
// of any size and emits exactly the chunks a one-shot pass over the whole
// content would. Each emitted chunk comes with a keep-alive handle: the
// bytes stay valid while the handle is held, so a consumer on another
// thread can hash and store them after the sink returns.
#ifndef CIUICFS_STORE_INGEST_CHUNKER_H_
#define CIUICFS_STORE_INGEST_CHUNKER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "store/base/status.h"

namespace ciuicfs {

struct ChunkerParams {
  uint32_t min_size = 64 * 1024;
  uint32_t avg_size = 256 * 1024;
  uint32_t max_size = 1024 * 1024;

  // avg a power of two >= 256, min >= 64, min < avg < max, max <= 64 MiB.
  Status Validate() const;
  bool operator==(const ChunkerParams&) const = default;
};

class Chunker {
 public:
  explicit Chunker(const ChunkerParams& params);

  // Length of the chunk that starts at data[0]. `n` is the number of bytes
  // available; it must be >= max_size unless these are the last bytes of the
  // content. Returns a value in [1, min(n, max_size)] for n > 0.
  size_t NextBoundary(const uint8_t* data, size_t n) const;

  const ChunkerParams& params() const { return params_; }

 private:
  ChunkerParams params_;
  uint64_t mask_small_;  // before avg_size: harder to match
  uint64_t mask_large_;  // after avg_size: easier to match
};

class StreamChunker {
 public:
  // Called once per chunk, in order; the bytes are valid while a copy of
  // `keep` lives. A non-OK status stops the stream and is returned.
  using Sink = std::function<Status(const uint8_t* data, size_t n, std::shared_ptr<const void> keep)>;

  StreamChunker(const Chunker* chunker, Sink sink);
  ~StreamChunker();
  StreamChunker(const StreamChunker&) = delete;
  StreamChunker& operator=(const StreamChunker&) = delete;

  Status Append(const void* data, size_t n);
  // Emits the remaining bytes. No Append after Finish.
  Status Finish();

 private:
  struct BlockPool;
  Status Drain(bool last);
  Status NextBlock();

  const Chunker* chunker_;
  Sink sink_;
  const size_t cap_;
  std::shared_ptr<BlockPool> pool_;
  std::shared_ptr<uint8_t> block_;  // the current buffer; shared with consumers
  size_t start_ = 0;
  size_t end_ = 0;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_INGEST_CHUNKER_H_
