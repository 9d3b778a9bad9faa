// How `ciuicfs ui` reaches its store, request by request (fs/ui/README.md,
// "The store").
//
// Reads go through a read-only open of the store, as `ciuicfs log` makes
// one beside a mount, reopened whenever no request holds it and it is a
// second old or a change was made since, so every answer is what the
// command line would print now. Changes (tag, rollback, prune) run the
// commands' own code: on a mountpoint inside its daemon, through the
// control socket (fs/cli/control.h), as `ciuicfs tag` on a mount does; on a
// store that is not mounted with a writable open for that one command.
// Never two opens of one index at once in this process: LMDB forbids it.
// A store held but idle for two seconds is closed, so its files (packs gc
// removed) are not kept open. Thread-safe.
#ifndef CIUICFS_FS_UI_STORE_ACCESS_H_
#define CIUICFS_FS_UI_STORE_ACCESS_H_

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fs/cli/common.h"

namespace ciuicfs::ui {

// A command's exit code and what it printed.
struct CommandAnswer {
  int code = cli::kExitFailed;
  std::string out, err;
  // The last line it printed on stderr, without "ciuicfs: " (its error).
  std::string ErrorLine() const;
};

class StoreAccess {
 public:
  // `where` as the commands take it: a mountpoint, a store directory, a
  // rados: URI, or "" (the mount the current directory is in, else the
  // default store). Null, with the commands' one line in *error, when it
  // cannot be opened.
  static std::unique_ptr<StoreAccess> Open(const std::string& where, std::string* error);
  ~StoreAccess();

  // The store, open read-only for as long as the returned view lives;
  // null with *error when it cannot be opened now.
  std::shared_ptr<const cli::Target> Read(std::string* error);
  // Runs a reading command (log, show, diff, stats) on `view`'s store.
  CommandAnswer Run(const cli::Target& view, const std::vector<std::string>& args);
  // Runs a changing command (its name and arguments, no store named).
  CommandAnswer Change(const std::vector<std::string>& args);

  const std::string& store_dir() const { return store_dir_; }
  const std::string& mountpoint() const { return mountpoint_; }  // "" when not on a mount

 private:
  StoreAccess() = default;
  void CloseWhenIdle();

  std::string where_;  // what Read and Change open: the mountpoint, store directory or URI
  std::string store_dir_, mountpoint_;

  std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_:
  std::shared_ptr<cli::Target> current_;  // the read-only open, while held
  int readers_ = 0;                       // views of current_ alive
  bool changing_ = false;                 // a writable open is being used
  bool stale_ = false;                    // a change was made since current_ was opened
  bool stopping_ = false;
  std::chrono::steady_clock::time_point opened_at_, last_used_;
  std::thread closer_;
};

}  // namespace ciuicfs::ui

#endif  // CIUICFS_FS_UI_STORE_ACCESS_H_
