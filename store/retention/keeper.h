// The retention keeper of a mount's daemon: applies a policy after commits
// and runs gc in the background (store/retention/README.md, "The keeper").
#ifndef CIUICFS_STORE_RETENTION_KEEPER_H_
#define CIUICFS_STORE_RETENTION_KEEPER_H_

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "store/retention/policy.h"

namespace ciuicfs {

class Store;

// Every branch's line and head, the tags and every retained snapshot.
Result<RetentionInput> LoadRetentionInput(Store* store);

struct KeeperStats {
  uint64_t passes = 0;          // times the policy was applied
  uint64_t dropped = 0;         // snapshots it dropped
  uint64_t gc_runs = 0;
  uint64_t bytes_freed = 0;     // by those gc runs
  std::string last_error;       // "" when the last pass and gc went well
};

class RetentionKeeper {
 public:
  RetentionKeeper(Store* store, RetentionPolicy policy);
  ~RetentionKeeper();  // stops the thread (a gc under way finishes first)
  RetentionKeeper(const RetentionKeeper&) = delete;
  RetentionKeeper& operator=(const RetentionKeeper&) = delete;

  RetentionPolicy policy() const;
  // Takes effect at once: the next pass runs now.
  void SetPolicy(const RetentionPolicy& p);
  KeeperStats stats() const;

 private:
  void Loop();
  // One pass: drops what the policy drops; returns how many.
  Result<uint64_t> Apply(const RetentionPolicy& p);

  Store* store_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  RetentionPolicy policy_;
  bool changed_ = true;  // the policy changed since the last pass
  bool stop_ = false;
  KeeperStats stats_;
  std::thread thread_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_RETENTION_KEEPER_H_
