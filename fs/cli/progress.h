// ProgressLine: the one progress line of a command that may take more than
// a second (verify, compact, gc, upgrade). On a terminal it is a single
// line on stderr, rewritten in place ("\r...") at most five times a second
// and erased when the work is done, so what stays on the screen is the
// command's answer. It never writes to stdout, so neither the text answer
// nor --json output carries it.
//
// It shows nothing when stderr is not a terminal, nor inside a mount's
// daemon (CurrentContext() set): there the command runs for a client of the
// control socket, whose answer is its stdout and stderr sent back once, when
// the command ends (control.h). Relaying progress would take a streamed
// answer and a client that knows its daemon speaks it; the client of a
// mounted store therefore prints nothing until the answer comes.
//
// Whether it shows is decided when it is made, on the command's thread;
// Update may then be called from any one thread at a time (gc reports from
// the store's background thread while the command waits).
#ifndef CIUICFS_FS_CLI_PROGRESS_H_
#define CIUICFS_FS_CLI_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>

namespace ciuicfs::cli {

class ProgressLine {
 public:
  // What the numbers count: bytes ("1.5 MiB of 3.0 MiB") or snapshots.
  enum class Unit { kBytes, kSnapshots };

  // The line reads "<what>: <done> of <total> <verb> (<percent>%)", e.g.
  // "verify: 1.5 GiB of 3.0 GiB checked (50%)".
  ProgressLine(std::string what, std::string verb, Unit unit = Unit::kBytes);
  ~ProgressLine();  // Done()
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // Shows `done` of `total` when the line is shown and the last update is
  // 200 ms old (the first, and the one that reaches the total, always). A
  // total of 0 shows nothing.
  void Update(uint64_t done, uint64_t total);
  // Update, in the shape the store's progress callbacks take.
  std::function<void(uint64_t done, uint64_t total)> Callback();
  // Erases the line, if one was shown; later updates show nothing. Call it
  // before the command prints its answer or a failure.
  void Done();
  // Whether this command shows progress (stderr a terminal, not in a daemon).
  bool shown() const { return out_ != nullptr; }

 private:
  std::string Text(uint64_t done, uint64_t total) const;

  std::string what_, verb_;
  Unit unit_;
  FILE* out_ = nullptr;  // stderr when shown
  std::mutex mu_;
  size_t width_ = 0;  // of the line on the screen (0: none)
  std::string shown_;  // what it says now
  std::chrono::steady_clock::time_point last_;
};

}  // namespace ciuicfs::cli

#endif  // CIUICFS_FS_CLI_PROGRESS_H_
