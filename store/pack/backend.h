// PackBackend: the one way store/ reaches the bytes of its packs.
//
// A backend holds numbered objects ("packs") of bytes. The pack layer above
// it (PackStore) frames records; the backend knows nothing of them. The
// contract every implementation keeps, and the tests hold it to:
//
// - Create(pack) makes a new, empty object; it fails when one exists. The
//   object's existence is durable after the next Sync of it.
// - Append(pack, offset, pieces) adds bytes at the end; `offset` must be the
//   object's current size. Whole or nothing: on success every byte is
//   readable; on failure the object is back at `offset` (the backend cuts
//   what it wrote). Only a crash of the process or machine during the call
//   may leave a prefix behind, which the index never points at and
//   recovery cuts (FORMAT.md, "Writes and crash consistency").
// - ReadAt returns exactly `n` bytes or an error: a read past the end is
//   Corruption, an I/O failure IOError. It never returns fewer bytes.
// - Size is the object's length; NotFound when it does not exist.
// - Truncate cuts an object to `size`; Remove deletes it (absent is OK);
//   List names every object present.
// - Sync makes everything appended to `pack` before the call durable (it
//   survives power loss, with the object itself) and returns that durable
//   end. A failed Sync is final for what was unsynced: the caller must not
//   retry it and then claim durability (the kernel may have dropped the
//   dirty pages; PostgreSQL's fsync lesson).
// - AppendsAreDurable: true where a successful Append (and Create) is
//   durable already (RADOS acknowledges a write once the OSDs committed
//   it). Then Sync only reports an object's size: the caller needs no Sync
//   of what it appended itself, and a failed Sync loses nothing and is not
//   final.
//
// Errors are Status values made by Status::FromErrno (ENOSPC is NoSpace, EIO
// IOError). All methods are thread-safe; appends to one object are
// serialized by the caller.
//
// OpenPackBackend picks an implementation by the store's URI: "DIR" or
// "file:DIR" (packs in DIR/packs, local_backend.h). "rados:POOL/NAME" is
// refused for now: the RADOS backend (rados_backend.h) exists, but a store
// on RADOS also needs its index and commits there (#15).
#ifndef CIUICFS_STORE_PACK_BACKEND_H_
#define CIUICFS_STORE_PACK_BACKEND_H_

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/status.h"

namespace ciuicfs {

class PackBackend {
 public:
  virtual ~PackBackend() = default;

  virtual Status Create(uint32_t pack) = 0;
  virtual Status Append(uint32_t pack, uint64_t offset, const struct iovec* pieces, int count) = 0;
  virtual Status ReadAt(uint32_t pack, uint64_t offset, void* dst, size_t n) = 0;
  virtual Result<uint64_t> Size(uint32_t pack) = 0;
  virtual Status Truncate(uint32_t pack, uint64_t size) = 0;
  virtual Status Remove(uint32_t pack) = 0;
  virtual Result<std::vector<uint32_t>> List() = 0;
  virtual Result<uint64_t> Sync(uint32_t pack) = 0;
  virtual bool AppendsAreDurable() const { return false; }

  // How messages name `pack`, e.g. "packs/00000001.pack".
  virtual std::string Name(uint32_t pack) const = 0;
};

// Where a store lives, parsed from what the user gave --store.
struct StoreUri {
  enum class Scheme { kFile, kRados };
  Scheme scheme = Scheme::kFile;
  std::string path;  // kFile: the store directory
  std::string pool;  // kRados
  std::string name;  // kRados
};
// "DIR", "file:DIR" or "rados:POOL/NAME"; InvalidArgument otherwise.
Result<StoreUri> ParseStoreUri(std::string_view uri);

// The backend for a store's packs: for kFile, files in <path>/packs.
Result<std::unique_ptr<PackBackend>> OpenPackBackend(const StoreUri& uri);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_PACK_BACKEND_H_
