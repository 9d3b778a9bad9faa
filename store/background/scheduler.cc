#include "store/background/scheduler.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "store/base/log.h"

namespace ciuicfs {

BackgroundScheduler::BackgroundScheduler() : worker_([this] { WorkerLoop(); }) {}

BackgroundScheduler::~BackgroundScheduler() { Stop(); }

std::future<Status> BackgroundScheduler::Schedule(std::unique_ptr<BackgroundJob> job) {
  std::promise<Status> done;
  std::future<Status> result = done.get_future();
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || !error_.ok()) {
    done.set_value(stopping_ ? Status::Busy("the store is closing") : error_);
    return result;
  }
  queue_.push_back(Queued{std::move(job), std::move(done)});
  cv_.notify_all();
  return result;
}

void BackgroundScheduler::SetError(const Status& error) {
  if (error.ok()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!error_.ok()) return;
  error_ = error;
  has_error_.store(true, std::memory_order_release);
  LogLine("background error: " + error.message() + "; the store takes no more writes until it is reopened");
}

Status BackgroundScheduler::error() const {
  if (!has_error_.load(std::memory_order_acquire)) return Status::Ok();
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

void BackgroundScheduler::Pause() {
  std::unique_lock<std::mutex> lock(mu_);
  ++paused_;
  cv_.wait(lock, [&] { return !running_; });
}

void BackgroundScheduler::Resume() {
  std::lock_guard<std::mutex> lock(mu_);
  --paused_;
  cv_.notify_all();
}

void BackgroundScheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (worker_.joinable()) worker_.join();
}

std::string BackgroundScheduler::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

Status BackgroundScheduler::RunJob(BackgroundJob& job) {
  const std::string name = job.name();
  auto stage = [&](const char* what, Status (BackgroundJob::*fn)()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      current_ = name + ": " + what;
    }
    return (job.*fn)();
  };
  Status s = stage("prepare", &BackgroundJob::Prepare);
  if (s.ok()) s = stage("run", &BackgroundJob::Run);
  if (s.ok()) s = stage("install", &BackgroundJob::Install);
  if (s.code() == Status::Code::kIOError) SetError(s);
  return s;
}

void BackgroundScheduler::WorkerLoop() {
  // Background work yields the CPU to saves and reads: on Linux a thread
  // has its own nice value. Best effort; a failure only costs speed.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), kWorkerNice);
  for (;;) {
    Queued q;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || (!queue_.empty() && paused_ == 0); });
      if (stopping_) {
        for (Queued& left : queue_) left.done.set_value(Status::Busy("the store is closing"));
        queue_.clear();
        return;
      }
      q = std::move(queue_.front());
      queue_.pop_front();
      running_ = true;
    }
    Status s = error().ok() ? RunJob(*q.job) : error();
    q.job.reset();
    {
      std::lock_guard<std::mutex> lock(mu_);
      running_ = false;
      current_.clear();
      cv_.notify_all();
    }
    q.done.set_value(s);
  }
}

}  // namespace ciuicfs
