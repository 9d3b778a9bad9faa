// RadosPackBackend: packs as RADOS objects "<NAME>.pack.<8 hex digits>" in
// one pool of a Ceph cluster (#15). It keeps backend.h's contract:
//
// - Append sends its bytes as asynchronous RADOS writes of at most
//   kMaxWrite bytes each and returns; up to kMaxInFlight writes per pack
//   are outstanding at once (one writer no longer waits a round trip per
//   chunk record). The writes of one client to one object are applied in
//   order, and every other call on a pack (ReadAt, Size, Truncate,
//   Remove, Sync) first waits for its outstanding writes, so a read sees
//   every byte appended before it.
// - A write is acknowledged only once the OSDs that hold the object have
//   committed it: Sync waits for the pack's writes and returns its size.
//   A write that failed fails that Sync, and every later call on the
//   pack: the store treats a failed sync as final (pack_store.h), so no
//   commit names bytes that were not written. An object cut short by a
//   failure is never appended to again.
// - Create is an exclusive create; List walks the pool's object names.
//
// The connection may be shared with the store's commit objects. Thread-safe (librados'
// IoCtx is).
#ifndef CIUICFS_STORE_PACK_RADOS_BACKEND_H_
#define CIUICFS_STORE_PACK_RADOS_BACKEND_H_

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "store/pack/backend.h"
#include "store/pack/rados_connection.h"

namespace ciuicfs {

class RadosPackBackend : public PackBackend {
 public:
  // RADOS' own limit on one write is 90 MB by default (osd_max_write_size).
  static constexpr size_t kMaxWrite = 64 << 20;
  static constexpr size_t kMaxInFlight = 16;

  // Connects; an error names the pool and what failed, in one line.
  static Result<std::unique_ptr<RadosPackBackend>> Connect(const RadosTarget& target, size_t max_write = kMaxWrite);
  // Over a connection other parts of the store share.
  RadosPackBackend(std::shared_ptr<RadosConnection> cluster, size_t max_write = kMaxWrite);
  ~RadosPackBackend() override;

  Status Create(uint32_t pack) override;
  Status Append(uint32_t pack, uint64_t offset, const struct iovec* pieces, int count) override;
  Status ReadAt(uint32_t pack, uint64_t offset, void* dst, size_t n) override;
  Result<uint64_t> Size(uint32_t pack) override;
  Status Truncate(uint32_t pack, uint64_t size) override;
  Status Remove(uint32_t pack) override;
  Result<std::vector<uint32_t>> List() override;
  Result<uint64_t> Sync(uint32_t pack) override;
  std::string Name(uint32_t pack) const override;

 private:
  std::string Object(uint32_t pack) const;
  Status Error(int r, const std::string& what) const;
  // Waits for the pack's outstanding writes: OK, or the first that failed
  // (kept: the pack stays failed).
  Status Drain(uint32_t pack);
  struct InFlight;
  std::mutex mu_;  // guards in_flight_ and failed_
  std::map<uint32_t, std::deque<InFlight*>> in_flight_;
  std::map<uint32_t, Status> failed_;

  std::shared_ptr<RadosConnection> cluster_;
  const RadosTarget target_;
  const size_t max_write_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_PACK_RADOS_BACKEND_H_
