// RadosCommitObjects: commit objects "<NAME>.commit.<16 hex>" in the
// store's pool. Create is one write operation with an exclusive create,
// so the object appears whole or not at all and only one node gets N.
#ifndef CIUICFS_STORE_CLUSTER_RADOS_COMMIT_OBJECTS_H_
#define CIUICFS_STORE_CLUSTER_RADOS_COMMIT_OBJECTS_H_

#include <memory>

#include "store/cluster/commit_objects.h"
#include "store/pack/rados_connection.h"

namespace ciuicfs {

class RadosCommitObjects : public CommitObjects {
 public:
  explicit RadosCommitObjects(std::shared_ptr<RadosConnection> cluster) : cluster_(std::move(cluster)) {}
  Result<bool> Create(uint64_t n, std::string_view bytes) override;
  Result<std::string> Read(uint64_t n) override;
  std::string Name(uint64_t n) const override;

 private:
  std::string Object(uint64_t n) const;
  std::shared_ptr<RadosConnection> cluster_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CLUSTER_RADOS_COMMIT_OBJECTS_H_
