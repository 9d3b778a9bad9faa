#include "store/background/throttle.h"

#include <thread>

namespace ciuicfs {

Throttle::Throttle(uint64_t bytes_per_second, std::function<bool()> busy, Clock clock, Sleep sleep)
    : rate_(bytes_per_second), busy_(std::move(busy)), clock_(std::move(clock)), sleep_(std::move(sleep)) {}

std::chrono::nanoseconds Throttle::SteadyNow() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch());
}

void Throttle::SleepFor(std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); }

void Throttle::Account(uint64_t bytes) {
  if (rate_ == 0 || !busy_()) {
    in_spell_ = false;  // idle: full speed, and the next busy spell starts afresh
    return;
  }
  if (!in_spell_) {
    in_spell_ = true;
    spell_start_ = clock_();
    spell_bytes_ = 0;
  }
  spell_bytes_ += bytes;
  const auto due = std::chrono::nanoseconds(static_cast<int64_t>(double(spell_bytes_) * 1e9 / double(rate_)));
  const auto elapsed = clock_() - spell_start_;
  if (due > elapsed) sleep_(due - elapsed);
}

}  // namespace ciuicfs
