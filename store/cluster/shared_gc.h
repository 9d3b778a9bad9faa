// SharedGc: gc on a store shared through RADOS (FORMAT.md, "Leases and gc
// on a shared store"): candidates at commit G, a wait until every live
// lease shows no save holding a chunk taken before G, a collect commit
// that every node applies, a wait until every node applied it, then a
// collect of the packs left empty, cut to their header.
#ifndef CIUICFS_STORE_CLUSTER_SHARED_GC_H_
#define CIUICFS_STORE_CLUSTER_SHARED_GC_H_

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/cluster/cluster_chain.h"
#include "store/cluster/lease.h"
#include "store/gc.h"

namespace ciuicfs {

struct StoreParts;

class SharedGc {
 public:
  SharedGc(const StoreParts* parts, ClusterChain* chain) : parts_(parts), chain_(chain) {}
  Result<GcStats> Run(const GcOptions& options);

 private:
  // Waits (at most `options.wait`) until every live lease, this node's
  // too, passes `ok`; `why` says what a lease that fails it is doing.
  // Leases not renewed for the grace period while watched are dead nodes':
  // removed and left out. Returns the live leases that passed.
  Result<std::vector<Lease>> AwaitLeases(const std::function<bool(const Lease&)>& ok,
                                         const std::function<std::string(const Lease&)>& why,
                                         const GcOptions& options);

  // Adds the chunks that commits after scanned_through_ up to `through`
  // name in the manifests they carry (revived since G).
  Status ScanNamedAgain(uint64_t through);

  const StoreParts* parts_;
  ClusterChain* chain_;
  uint64_t scanned_through_ = 0;
  std::set<ChunkId> named_again_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CLUSTER_SHARED_GC_H_
