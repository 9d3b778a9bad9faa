// LogApplier: takes the commits a mount logs (CommitLog) and applies them
// to the index in batches on its own thread (FORMAT.md, "Commit log").
// Submit returns once the commit is logged; WaitApplied and Settle wait
// for the index. Thread-safe.
#ifndef CIUICFS_STORE_JOURNAL_LOG_APPLIER_H_
#define CIUICFS_STORE_JOURNAL_LOG_APPLIER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "store/base/status.h"
#include "store/journal/commit_log.h"

namespace ciuicfs {

class LogApplier {
 public:
  // Applies one batch, in order, in one index transaction that also
  // records `batch.back().seq` as applied for `log_id`.
  using ApplyFn = std::function<Status(const std::string& log_id, const std::vector<LoggedCommit>& batch)>;
  static constexpr size_t kMaxBatch = 256;
  static constexpr size_t kMaxQueued = 4096;      // Submit waits beyond this
  static constexpr uint64_t kCutAt = 1ull << 20;  // the log is cut when all applied and larger

  // `sync` makes every applied batch survive power loss; it runs before
  // the log is cut.
  LogApplier(std::unique_ptr<CommitLog> log, ApplyFn apply, std::function<Status()> sync);
  ~LogApplier();
  const std::string& log_id() const { return log_->id(); }

  // Logs a prepared commit (PrepareForLog) and queues it; its sequence.
  // Fails without logging once an application failed, and while a full
  // disk holds the applier back (after one more try).
  Result<uint64_t> Submit(CommitRequest req);
  // Until `seq` is applied; the application error, if any. While a full
  // disk holds the applier back, one more try, then NoSpace if it failed.
  Status WaitApplied(uint64_t seq);
  // Until everything submitted so far is applied.
  Status Settle();
  // Takes no more commits, applies what is queued, stops the thread and,
  // when everything logged was applied, deletes the log file (the caller
  // then deletes its row); else the records stay for the next open.
  // Idempotent.
  Status Stop();

 private:
  void Run();
  // mu_ held: one more try of a batch a full disk holds back, and its
  // outcome (OK when it went in).
  Status RetryStalled(std::unique_lock<std::mutex>& lock);

  std::unique_ptr<CommitLog> log_;
  ApplyFn apply_;
  std::function<Status()> sync_;
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<LoggedCommit> queue_;
  uint64_t next_seq_ = 1;
  uint64_t applied_ = 0;  // every sequence up to this one is applied (or failed)
  Status error_;    // final: every later Submit fails with it
  Status stalled_;  // a full disk: the batch is tried again
  uint64_t attempts_ = 0;
  bool retry_now_ = false;
  bool stop_ = false;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_JOURNAL_LOG_APPLIER_H_
