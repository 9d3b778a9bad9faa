// BaseCache: the decoded, verified bases of the last deltas read (a few
// MiB at most), shared by the threads that read chunks. Neighbouring
// deltas name the same bases and are decoded side by side on the
// read-ahead threads, so a base is decoded once, by its first reader, and
// any reader that asks meanwhile waits for those bytes. A failed load is
// forgotten before anyone sees it fail: the next reader loads afresh.
// Thread-safe.
#ifndef CIUICFS_STORE_PACK_BASE_CACHE_H_
#define CIUICFS_STORE_PACK_BASE_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include "store/base/chunk_id.h"
#include "store/base/status.h"

namespace ciuicfs {

class BaseCache {
 public:
  using Bytes = std::shared_ptr<const std::string>;
  explicit BaseCache(size_t entries = 16) : capacity_(entries) {}

  // The bytes of `id`: kept, being loaded by another reader (waited for),
  // or loaded by `load` on this thread. `load` must not call Get.
  Result<Bytes> Get(const ChunkId& id, const std::function<Result<Bytes>()>& load);

 private:
  struct Entry {
    ChunkId id;
    uint64_t token;  // this load's, of all loads
    std::shared_future<Result<Bytes>> bytes;
  };
  const size_t capacity_;
  std::mutex mu_;
  std::list<Entry> entries_;  // most recent first
  uint64_t last_token_ = 0;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_PACK_BASE_CACHE_H_
