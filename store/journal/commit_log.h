// CommitLog: one process's log of the commits it made through a mount,
// written before they reach the index (FORMAT.md, "Commit log"). The file
// format, the record encoding, and the listing and reading of other
// processes' logs. Thread-safe.
#ifndef CIUICFS_STORE_JOURNAL_COMMIT_LOG_H_
#define CIUICFS_STORE_JOURNAL_COMMIT_LOG_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/commit.h"

namespace ciuicfs {

// One logged commit.
struct LoggedCommit {
  uint64_t seq = 0;
  CommitRequest req;  // prepared (PrepareForLog): no pending versions
};

std::string EncodeLoggedCommit(const LoggedCommit& c);
bool DecodeLoggedCommit(std::string_view payload, LoggedCommit* c);

// The row in `meta` that holds the last applied sequence of log `id`.
std::string LogMetaKey(const std::string& id);

class CommitLog {
 public:
  // A new log under `store_dir`/journal, locked for this process's life.
  static Result<std::unique_ptr<CommitLog>> Create(const std::string& store_dir);
  ~CommitLog();
  const std::string& id() const { return id_; }
  const std::string& path() const { return path_; }
  // Appends one record with one write(2); returns when it is in the page
  // cache (it survives a kill of the process, not power loss).
  Status Append(const LoggedCommit& c);
  // Cuts the file to zero length once it holds more than `over` bytes;
  // the caller knows every record in it is applied.
  Status CutIfOver(uint64_t over);
  uint64_t size() const;
  // Deletes the file (every record applied).
  Status Remove();

 private:
  CommitLog() = default;
  mutable std::mutex mu_;
  std::string id_, path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  Status broken_;  // a record could not be cut off after a failed write
};

// A log found on disk.
struct FoundLog {
  std::string id;
  std::string path;
};
Result<std::vector<FoundLog>> ListLogs(const std::string& store_dir);
// Every whole record from the start, up to the first short or damaged one.
Result<std::vector<LoggedCommit>> ReadLog(const std::string& path);
// Whether a live process holds the log (its lock). A log this process
// made counts as live.
bool LogIsLive(const std::string& path);
// Takes the lock of a dead log for the caller's replay: the descriptor,
// or -1 when another process holds it (live, or replaying it).
int LockDeadLog(const std::string& path);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_JOURNAL_COMMIT_LOG_H_
