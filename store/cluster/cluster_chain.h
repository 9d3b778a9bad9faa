// ClusterChain: the chain of a store shared through an object store
// (FORMAT.md, "A store on RADOS"). Every commit becomes the next numbered
// commit object before the local index, a cache, applies it; the commits
// of other nodes are applied in the same order as they are found (at open,
// before each commit, and by polling). Thread-safe.
#ifndef CIUICFS_STORE_CLUSTER_CLUSTER_CHAIN_H_
#define CIUICFS_STORE_CLUSTER_CLUSTER_CHAIN_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "store/base/status.h"
#include "store/cluster/commit_object.h"
#include "store/cluster/commit_objects.h"
#include "store/cluster/lease.h"
#include "store/commit.h"

namespace ciuicfs {

struct StoreParts;
class Txn;

class ClusterChain {
 public:
  ClusterChain(const StoreParts* parts, std::unique_ptr<CommitObjects> objects, std::unique_ptr<LeaseTable> leases,
               LeaseTiming timing);
  ~ClusterChain();  // stops polling, removes this node's lease
  // Applies every commit object after the last one the index holds.
  Status CatchUp();
  // Commits `req` as the next commit object, then into the index. Its
  // extent edits are ingested into packs first: once this returns, the
  // version needs nothing of this node.
  Result<Snapshot> Commit(const CommitRequest& req);
  // Tags, branches and prune: one commit object each, applied by every
  // node as the store's own call applies it.
  Status ChangeRefs(const RefChange& change);
  // For a node that writes: takes its lease (renewed on a thread of its
  // own), then catches up every `every` on another, until destroyed.
  Status Start(std::chrono::milliseconds every);
  // Cuts bytes [0, length) of extent `extent` into chunks in pack objects.
  Result<std::unique_ptr<PendingVersion>> IngestExtent(uint32_t extent, uint64_t length);
  // The number of the last commit the index holds.
  Result<uint64_t> Applied();
  static Result<uint64_t> AppliedIn(Txn& txn);

  // For gc (shared_gc.h): commits the collect `build` makes at the next
  // number, as Publish does; `*chunks`, `*packs`: the rows it deleted here.
  Status PublishCollect(const std::function<Result<CollectChange>(Txn&, uint64_t number)>& build, uint64_t* chunks,
                        uint64_t* packs);
  // Commit object `n`, decoded.
  Result<CommitObject> ReadObject(uint64_t n);
  // This node's lease as it would be written now, and everyone's table.
  Result<Lease> OwnLease();
  LeaseTable* leases() { return leases_.get(); }
  const LeaseTiming& lease_timing() const { return timing_; }

 private:
  Status CatchUpLocked();
  // Catches up, then, in one write transaction, builds the next commit
  // object, applies it, creates it, and commits; again after a number
  // another node took. `*snap`: what a snapshot commit made.
  // `*collected`: the chunk and pack rows a collect deleted here.
  // `last_check` runs last before the create, after the lease's.
  Status Publish(const std::function<Result<CommitObject>(Txn&, uint64_t number)>& build, Snapshot* snap,
                 std::pair<uint64_t, uint64_t>* collected = nullptr,
                 const std::function<Status()>& last_check = nullptr);
  // A collect emptied `packs`: no commit of this node may carry a record
  // in one (only a node taken for dead can hold one), and the lanes leave them.
  void NoteEmptied(const std::set<uint32_t>& packs);
  bool Emptied(uint32_t pack);

  // What this node holds now (LeaseKeeper's fill).
  Result<Lease> Holds();

  const StoreParts* parts_;
  std::unique_ptr<CommitObjects> objects_;
  std::unique_ptr<LeaseTable> leases_;
  const LeaseTiming timing_;
  std::unique_ptr<LeaseKeeper> keeper_;  // once Start took the lease
  std::atomic<uint64_t> lapses_{0};       // lapses of the lease this node came back from
  std::mutex emptied_mu_;
  std::set<uint32_t> emptied_;  // packs collects emptied since this open (guarded by emptied_mu_)
  std::mutex mu_;  // one commit or catch-up at a time
  std::mutex poll_mu_;
  std::condition_variable poll_cv_;
  bool stop_ = false;  // guarded by poll_mu_
  std::thread poller_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CLUSTER_CLUSTER_CHAIN_H_
