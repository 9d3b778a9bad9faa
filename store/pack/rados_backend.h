// RadosPackBackend: packs as RADOS objects "<NAME>.pack.<8 hex digits>" in
// one pool of a Ceph cluster (#15). It keeps backend.h's contract:
//
// - Append is one RADOS write operation when it is at most kMaxWrite bytes
//   (the OSD applies an operation whole or not at all); a larger one is
//   written in pieces, and a failure part way cuts the object back to
//   `offset` before it returns.
// - A write is acknowledged only once the OSDs that hold the object have
//   committed it, so Sync has nothing left to flush: it returns the size.
// - Create is an exclusive create; List walks the pool's object names.
//
// The connection may be shared with the store's commit objects. Thread-safe (librados'
// IoCtx is).
#ifndef CIUICFS_STORE_PACK_RADOS_BACKEND_H_
#define CIUICFS_STORE_PACK_RADOS_BACKEND_H_

#include <memory>
#include <string>

#include "store/pack/backend.h"
#include "store/pack/rados_connection.h"

namespace ciuicfs {

class RadosPackBackend : public PackBackend {
 public:
  // RADOS' own limit on one write is 90 MB by default (osd_max_write_size).
  static constexpr size_t kMaxWrite = 64 << 20;

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
  bool AppendsAreDurable() const override { return true; }
  std::string Name(uint32_t pack) const override;

 private:
  std::string Object(uint32_t pack) const;
  Status Error(int r, const std::string& what) const;

  std::shared_ptr<RadosConnection> cluster_;
  const RadosTarget target_;
  const size_t max_write_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_PACK_RADOS_BACKEND_H_
