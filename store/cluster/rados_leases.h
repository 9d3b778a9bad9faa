// RadosLeases: the leases of a store on RADOS, as omap keys of the object
// "<NAME>.leases" (FORMAT.md, "A store on RADOS"): the key is the node id
// in 16 hex digits, the value its lease. Setting one key is atomic and
// touches no other node's.
#ifndef CIUICFS_STORE_CLUSTER_RADOS_LEASES_H_
#define CIUICFS_STORE_CLUSTER_RADOS_LEASES_H_

#include <memory>

#include "store/cluster/lease.h"
#include "store/pack/rados_connection.h"

namespace ciuicfs {

class RadosLeases : public LeaseTable {
 public:
  explicit RadosLeases(std::shared_ptr<RadosConnection> cluster) : cluster_(std::move(cluster)) {}
  Status Put(uint64_t node, std::string_view bytes) override;
  Result<std::map<uint64_t, std::string>> List() override;
  Status Remove(uint64_t node) override;
  std::string Name() const override;
  std::string RemoveCommand(uint64_t node) const override;

 private:
  std::string Object() const { return cluster_->target.name + ".leases"; }
  std::shared_ptr<RadosConnection> cluster_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CLUSTER_RADOS_LEASES_H_
