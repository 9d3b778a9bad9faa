// Background work: one place that schedules jobs, one worker that runs them
// in order, and one sticky background error.
//
// A BackgroundJob runs in three stages: Prepare picks its input (short, may
// read the index), Run does the I/O with no store lock held, Install makes
// the result visible in one index transaction. The scheduler runs one job
// at a time.
//
// The background error: the first failed write or sync (a job's I/O, or a
// sync the store did for a durable commit) is kept until the store is
// closed. From then on no job runs and every write of the store fails with
// that error, rather than claiming durability for bytes the disk may have
// dropped. Reopening the store (recovery) is the only way back.
//
// Pause waits until no job runs and keeps new ones from starting until the
// matching Resume (gc's delete pass and verify pause it). Stop finishes the
// running job and fails the queued ones. The worker runs at nice 10, so
// jobs take the CPU that saves and reads leave. Thread-safe.
#ifndef CIUICFS_STORE_BACKGROUND_SCHEDULER_H_
#define CIUICFS_STORE_BACKGROUND_SCHEDULER_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "store/base/status.h"

namespace ciuicfs {

class BackgroundJob {
 public:
  virtual ~BackgroundJob() = default;
  virtual std::string name() const = 0;
  virtual Status Prepare() = 0;
  virtual Status Run() = 0;
  virtual Status Install() = 0;
};

class BackgroundScheduler {
 public:
  BackgroundScheduler();
  ~BackgroundScheduler();  // Stop()
  BackgroundScheduler(const BackgroundScheduler&) = delete;
  BackgroundScheduler& operator=(const BackgroundScheduler&) = delete;

  // Queues `job`; the future yields its outcome. After Stop, or once the
  // background error is set, the job does not run and the future yields
  // that error.
  std::future<Status> Schedule(std::unique_ptr<BackgroundJob> job);

  // Keeps the first error given; an IOError from any stage of a job is
  // given by the scheduler itself.
  void SetError(const Status& error);
  Status error() const;

  void Pause();
  void Resume();
  void Stop();

  // What runs now ("" when idle), e.g. "compact packs: run".
  std::string current() const;

 private:
  struct Queued {
    std::unique_ptr<BackgroundJob> job;
    std::promise<Status> done;
  };
  static constexpr int kWorkerNice = 10;
  void WorkerLoop();
  Status RunJob(BackgroundJob& job);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Queued> queue_;
  Status error_;
  std::atomic<bool> has_error_{false};  // error() is asked for every chunk a save stores
  int paused_ = 0;
  bool running_ = false;
  bool stopping_ = false;
  std::string current_;
  std::thread worker_;
};

// Pauses a scheduler for one scope.
class BackgroundPause {
 public:
  explicit BackgroundPause(BackgroundScheduler* s) : s_(s) { s_->Pause(); }
  ~BackgroundPause() { s_->Resume(); }
  BackgroundPause(const BackgroundPause&) = delete;
  BackgroundPause& operator=(const BackgroundPause&) = delete;

 private:
  BackgroundScheduler* s_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_BACKGROUND_SCHEDULER_H_
