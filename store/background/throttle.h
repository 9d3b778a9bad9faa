// Throttle: keeps a background job's I/O at or under a rate while
// foreground work (a save) is in progress, and out of its way otherwise
// not at all. A job calls Account after each piece of I/O; Account sleeps
// as long as the bytes since the busy spell began are ahead of the rate.
// The clock and the sleep are parameters so tests can drive them. One job
// owns one Throttle; not thread-safe.
#ifndef CIUICFS_STORE_BACKGROUND_THROTTLE_H_
#define CIUICFS_STORE_BACKGROUND_THROTTLE_H_

#include <chrono>
#include <cstdint>
#include <functional>

namespace ciuicfs {

class Throttle {
 public:
  using Clock = std::function<std::chrono::nanoseconds()>;
  using Sleep = std::function<void(std::chrono::nanoseconds)>;

  // `busy` says whether foreground work runs now.
  Throttle(uint64_t bytes_per_second, std::function<bool()> busy, Clock clock = SteadyNow, Sleep sleep = SleepFor);

  void Account(uint64_t bytes);

  static std::chrono::nanoseconds SteadyNow();
  static void SleepFor(std::chrono::nanoseconds d);

 private:
  const uint64_t rate_;
  const std::function<bool()> busy_;
  const Clock clock_;
  const Sleep sleep_;
  bool in_spell_ = false;
  std::chrono::nanoseconds spell_start_{0};
  uint64_t spell_bytes_ = 0;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_BACKGROUND_THROTTLE_H_
