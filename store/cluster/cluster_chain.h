// ClusterChain: the chain of a store shared through an object store
// (FORMAT.md, "A store on RADOS"). Every commit becomes the next numbered
// commit object before the local index, a cache, applies it; the commits
// of other nodes are applied in the same order as they are found (at open,
// before each commit, and by polling). Thread-safe.
#ifndef CIUICFS_STORE_CLUSTER_CLUSTER_CHAIN_H_
#define CIUICFS_STORE_CLUSTER_CLUSTER_CHAIN_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "store/base/status.h"
#include "store/cluster/commit_object.h"
#include "store/cluster/commit_objects.h"
#include "store/commit.h"

namespace ciuicfs {

struct StoreParts;

class ClusterChain {
 public:
  ClusterChain(const StoreParts* parts, std::unique_ptr<CommitObjects> objects);
  ~ClusterChain();  // stops polling
  // Applies every commit object after the last one the index holds.
  Status CatchUp();
  // Commits `req` as the next commit object, then into the index. Its
  // extent edits are ingested into packs first: once this returns, the
  // version needs nothing of this node.
  Result<Snapshot> Commit(const CommitRequest& req);
  // Tags, branches and prune: one commit object each, applied by every
  // node as the store's own call applies it.
  Status ChangeRefs(const RefChange& change);
  // Catches up every `every` on a thread of its own, until destroyed.
  void StartPolling(std::chrono::milliseconds every);
  // Cuts bytes [0, length) of extent `extent` into chunks in pack objects.
  Result<std::unique_ptr<PendingVersion>> IngestExtent(uint32_t extent, uint64_t length);
  // The number of the last commit the index holds.
  Result<uint64_t> Applied();

 private:
  Status CatchUpLocked();
  // Catches up, then, in one write transaction, builds the next commit
  // object, applies it, creates it, and commits; again after a number
  // another node took. `*snap`: what a snapshot commit made.
  Status Publish(const std::function<Result<CommitObject>(Txn&, uint64_t number)>& build, Snapshot* snap);

  const StoreParts* parts_;
  std::unique_ptr<CommitObjects> objects_;
  std::mutex mu_;  // one commit or catch-up at a time
  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  bool stop_ = false;  // guarded by poll_mu_
  std::thread poller_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CLUSTER_CLUSTER_CHAIN_H_
