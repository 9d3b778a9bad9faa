// Leases: how a node of a shared store tells the others what its
// unfinished saves hold (FORMAT.md, "Leases and gc on a shared store").
// Lease is the value, LeaseTable where the values live (one key per node),
// LeaseKeeper the thread that renews this node's.
#ifndef CIUICFS_STORE_CLUSTER_LEASE_H_
#define CIUICFS_STORE_CLUSTER_LEASE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/base/status.h"

namespace ciuicfs {

struct Lease {
  static constexpr uint64_t kNoHold = UINT64_MAX;  // as PinTable::kNoSince
  uint64_t node = 0;
  uint64_t renewal = 0;  // 1, 2, 3, ... one per write
  uint64_t applied = 0;  // the commit number the node's index had applied
  // The lowest commit number a dedup look-up of an unfinished save read.
  uint64_t holds_from = kNoHold;
  // The node's grace period: gc on another node waits at least this long
  // for a renewal before it takes the node for dead.
  uint64_t grace_ms = 0;
  std::vector<uint32_t> packs_in_use;  // appended to now, or holding records no commit names yet
  int64_t written_ns = 0;              // the writer's clock; messages only
  std::string host;
  uint32_t pid = 0;
  // "node 1f2e3d4c5b6a7988 (host h, pid 12)"
  std::string Who() const;
};

std::string EncodeLease(const Lease& l);
// False for bytes of the wrong shape or a failed checksum.
bool DecodeLease(std::string_view bytes, Lease* l);

class LeaseTable {
 public:
  virtual ~LeaseTable() = default;
  // Sets node `node`'s value, atomically.
  virtual Status Put(uint64_t node, std::string_view bytes) = 0;
  // Every node's value.
  virtual Result<std::map<uint64_t, std::string>> List() = 0;
  virtual Status Remove(uint64_t node) = 0;
  // How messages name the table.
  virtual std::string Name() const = 0;
  // The command that removes node `node`'s value by hand (a damaged lease
  // of a node that is gone).
  virtual std::string RemoveCommand(uint64_t node) const = 0;
};

struct LeaseTiming {
  std::chrono::milliseconds renew{2000};
  // A lease not renewed for this long while another node watches is a
  // dead node's; a node whose writes failed for half of it stops writing.
  std::chrono::milliseconds grace{30000};
};

// Writes this node's lease at Start and every `renew` after, on a thread
// of its own; removes it when destroyed. Thread-safe.
class LeaseKeeper {
 public:
  // `fill` says what the node holds now (node, renewal, time, host and
  // pid are set here). `after_lapse` runs when a write succeeds after the
  // lease had lapsed: what the node held through the lapse may be gone.
  LeaseKeeper(LeaseTable* table, std::function<Result<Lease>()> fill, LeaseTiming timing,
              std::function<void()> after_lapse = nullptr);
  ~LeaseKeeper();
  // The first write, then the thread.
  Status Start();
  // OK while the last successful write is less than half the grace old
  // (and the node has heard of a lapse it came back from); else why the
  // node must not commit now.
  Status Healthy() const;
  // The lease as it would be written now (gc counts its own node too).
  Result<Lease> Now();
  uint64_t node() const { return node_; }

 private:
  Status Renew();

  LeaseTable* const table_;
  const std::function<Result<Lease>()> fill_;
  const std::function<void()> after_lapse_;
  const LeaseTiming timing_;
  const uint64_t node_;
  mutable std::mutex mu_;
  uint64_t renewal_ = 0;  // guarded by mu_
  // CLOCK_BOOTTIME in ns: it goes on while the machine is suspended.
  static int64_t BootNs();
  int64_t last_ok_ns_ = 0;  // guarded by mu_
  Status last_error_;                              // guarded by mu_
  bool stop_ = false;                              // guarded by mu_
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CLUSTER_LEASE_H_
