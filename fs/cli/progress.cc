#include "fs/cli/progress.h"

#include <unistd.h>

#include <algorithm>

#include "fs/cli/common.h"

namespace ciuicfs::cli {
namespace {

constexpr std::chrono::milliseconds kInterval{200};  // five updates a second

}  // namespace

ProgressLine::ProgressLine(std::string what, std::string verb, Unit unit)
    : what_(std::move(what)), verb_(std::move(verb)), unit_(unit) {
  if (CurrentContext() == nullptr && isatty(STDERR_FILENO)) out_ = stderr;
}

ProgressLine::~ProgressLine() { Done(); }

std::string ProgressLine::Text(uint64_t done, uint64_t total) const {
  const unsigned percent = unsigned(done >= total ? 100 : done * 100.0 / double(total));
  const std::string numbers = unit_ == Unit::kBytes
                                  ? HumanBytes(done) + " of " + HumanBytes(total)
                                  : std::to_string(done) + " of " + std::to_string(total) + " snapshots";
  return what_ + ": " + numbers + " " + verb_ + " (" + std::to_string(percent) + "%)";
}

void ProgressLine::Update(uint64_t done, uint64_t total) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!out_ || total == 0) return;
  const auto now = std::chrono::steady_clock::now();
  if (width_ > 0 && done < total && now - last_ < kInterval) return;
  const std::string line = Text(done, total);
  if (line == shown_) return;
  last_ = now;
  shown_ = line;
  // Spaces over what a longer line before left on the screen.
  const std::string pad = line.size() < width_ ? std::string(width_ - line.size(), ' ') : "";
  std::fprintf(out_, "\r%s%s", line.c_str(), pad.c_str());
  std::fflush(out_);
  width_ = std::max(width_, line.size());
}

std::function<void(uint64_t, uint64_t)> ProgressLine::Callback() {
  return [this](uint64_t done, uint64_t total) { Update(done, total); };
}

void ProgressLine::Done() {
  std::lock_guard<std::mutex> lock(mu_);
  if (out_ && width_ > 0) {
    std::fprintf(out_, "\r%s\r", std::string(width_, ' ').c_str());
    std::fflush(out_);
  }
  out_ = nullptr;
  width_ = 0;
  shown_.clear();
}

}  // namespace ciuicfs::cli
