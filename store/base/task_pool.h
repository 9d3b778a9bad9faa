// A fixed set of threads that run submitted tasks in order of submission.
// Used where a caller wants work done beside it and waits for the result
// later (a sequential reader's next chunks). The destructor finishes the
// tasks already queued. Thread-safe.
#ifndef CIUICFS_STORE_BASE_TASK_POOL_H_
#define CIUICFS_STORE_BASE_TASK_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace ciuicfs {

class TaskPool {
 public:
  explicit TaskPool(unsigned threads);
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  template <typename F>
  auto Submit(F f) -> std::future<decltype(f())> {
    auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
    auto result = task->get_future();
    Push([task] { (*task)(); });
    return result;
  }

 private:
  void Push(std::function<void()> task);
  void Loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_BASE_TASK_POOL_H_
