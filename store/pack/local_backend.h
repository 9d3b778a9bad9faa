// LocalPackBackend: packs as files "<dir>/<8 hex digits>.pack" on a local
// filesystem (FORMAT.md, "Directory layout"). Keeps a cache of open file
// descriptors; a Sync after a Create also fsyncs the directory, so the new
// file's name is as durable as its bytes. Thread-safe.
#ifndef CIUICFS_STORE_PACK_LOCAL_BACKEND_H_
#define CIUICFS_STORE_PACK_LOCAL_BACKEND_H_

#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <string>

#include "store/pack/backend.h"

namespace ciuicfs {

class LocalPackBackend : public PackBackend {
 public:
  explicit LocalPackBackend(std::string dir);
  ~LocalPackBackend() override;

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
  struct File;
  Result<std::shared_ptr<File>> Open(uint32_t pack);
  std::string Path(uint32_t pack) const;

  const std::string dir_;
  std::mutex mu_;  // guards files_ and dir_dirty_
  std::map<uint32_t, std::shared_ptr<File>> files_;
  bool dir_dirty_ = false;  // a pack was created since the directory was last fsynced
  // Packs this backend created, or whose name it has made durable: a pack
  // another process created (another mount's) gets a directory fsync with
  // its first sync here.
  std::set<uint32_t> named_;
  std::mutex dir_sync_mu_;  // held across the directory fsync; taken before mu_
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_PACK_LOCAL_BACKEND_H_
