#include "store/journal/log_applier.h"

#include <chrono>

#include "store/base/crash_point.h"
#include "store/base/log.h"

namespace ciuicfs {

LogApplier::LogApplier(std::unique_ptr<CommitLog> log, ApplyFn apply, std::function<Status()> sync)
    : log_(std::move(log)), apply_(std::move(apply)), sync_(std::move(sync)), thread_([this] { Run(); }) {}

Status LogApplier::RetryStalled(std::unique_lock<std::mutex>& lock) {
  if (stalled_.ok()) return Status::Ok();
  const uint64_t tried = attempts_;
  retry_now_ = true;
  work_cv_.notify_all();
  done_cv_.wait(lock, [&] { return attempts_ > tried || stopped_ || !error_.ok(); });
  return stalled_;
}

LogApplier::~LogApplier() { (void)Stop(); }

Result<uint64_t> LogApplier::Submit(CommitRequest req) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!error_.ok()) return error_;
  if (stop_) return Status::IOError("the store is closing");
  // A full disk: refused, as a commit into a full index would be.
  CIUIC_RETURN_IF_ERROR(RetryStalled(lock));
  done_cv_.wait(lock, [&] { return queue_.size() < kMaxQueued || !error_.ok() || !stalled_.ok() || stop_; });
  if (!error_.ok()) return error_;
  if (!stalled_.ok()) return stalled_;
  if (stop_) return Status::IOError("the store is closing");
  LoggedCommit c;
  c.seq = next_seq_;
  c.req = std::move(req);
  // Under mu_: the log holds the records in sequence order.
  CIUIC_RETURN_IF_ERROR(log_->Append(c));
  ++next_seq_;
  queue_.push_back(std::move(c));
  work_cv_.notify_one();
  return next_seq_ - 1;
}

Status LogApplier::WaitApplied(uint64_t seq) {
  std::unique_lock<std::mutex> lock(mu_);
  if (applied_ < seq) (void)RetryStalled(lock);  // a full disk: one more try now
  done_cv_.wait(lock, [&] { return applied_ >= seq || !error_.ok() || !stalled_.ok() || stopped_; });
  if (!error_.ok()) return error_;
  if (applied_ < seq) return stalled_.ok() ? Status::IOError("the store is closing") : stalled_;
  return Status::Ok();
}

Status LogApplier::Settle() {
  uint64_t last;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last = next_seq_ - 1;
  }
  return WaitApplied(last);
}

Status LogApplier::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return error_;
    stop_ = true;  // no more Submits; the thread applies what is queued
  }
  work_cv_.notify_all();
  done_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  done_cv_.notify_all();
  if (!error_.ok()) return error_;  // the records stay for the next open
  if (applied_ != next_seq_ - 1) return stalled_.ok() ? Status::IOError("commits left unapplied") : stalled_;
  return log_->Remove();
}

void LogApplier::Run() {
  std::vector<LoggedCommit> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (batch.empty()) {
        work_cv_.wait(lock, [&] { return stop_ || (!queue_.empty() && error_.ok()); });
        if (queue_.empty() || !error_.ok()) return;  // stopping
        while (!queue_.empty() && batch.size() < kMaxBatch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      } else {  // a full disk: again after a pause, or at once when a reader asks
        work_cv_.wait_for(lock, std::chrono::milliseconds(200), [&] { return stop_ || retry_now_; });
        retry_now_ = false;
        if (stop_) return;  // the batch stays in the log for the next open
      }
    }
    CrashPoint("journal.before_apply");
    Status s = apply_(log_->id(), batch);
    std::lock_guard<std::mutex> lock(mu_);
    ++attempts_;
    if (s.ok()) {
      applied_ = batch.back().seq;
      batch.clear();
      if (!stalled_.ok()) {
        LogLine("commit log: applied again after the disk had no space");
        stalled_ = Status::Ok();
      }
      if (queue_.empty() && log_->size() > kCutAt) {
        // The index's last transactions reach the disk before the log
        // that holds them is cut (power loss must not leave a gap).
        Status cut = sync_ ? sync_() : Status::Ok();
        if (cut.ok()) cut = log_->CutIfOver(kCutAt);
        if (!cut.ok()) LogLine("commit log: " + cut.message());
      }
    } else if (s.code() == Status::Code::kNoSpace) {
      // Logged and acknowledged: kept, and tried again until space is freed.
      if (stalled_.ok())
        LogLine("commit log: applying commits " + std::to_string(batch.front().seq) + "-" +
                std::to_string(batch.back().seq) + " waits for disk space: " + s.message());
      stalled_ = s;
    } else {
      LogLine("commit log: applying commits " + std::to_string(batch.front().seq) + "-" +
              std::to_string(batch.back().seq) + " failed (they stay in " + log_->path() + "): " + s.message());
      error_ = s;
      batch.clear();
    }
    done_cv_.notify_all();
  }
}

}  // namespace ciuicfs
