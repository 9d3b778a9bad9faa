// The running mounts of a store: `<store>/mounts/` (store/FORMAT.md,
// "Directory layout"), so several mounts of one store, each on its own
// branch, can be told apart. Per mount (the daemon's pid):
//   <pid>.info   its mountpoint and live branch, one per line (mode 0600,
//                a temp file renamed over it)
//   <pid>.sock   its control socket (control.h)
// and per branch mounted for writing, `branch-<NAME>.lock`, which the
// mount holding the branch keeps locked (a POSIX lock, freed by the kernel
// when the daemon dies) and whose text names its mountpoint.
#ifndef CIUICFS_FS_CLI_MOUNTS_H_
#define CIUICFS_FS_CLI_MOUNTS_H_

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "store/store.h"

namespace ciuicfs::cli {

struct MountEntry {
  pid_t pid = 0;
  std::string mountpoint;
  std::string branch;
};

std::string MountsDir(const std::string& store_dir);
std::string MountSocketPath(const std::string& store_dir, pid_t pid);
// The running mount of `store_dir` at `mountpoint`, if any.
std::optional<MountEntry> FindMount(const std::string& store_dir, const std::string& mountpoint);

// A branch's lock held for one operation (deleting the branch), so no mount
// can start on it meanwhile; Busy naming the mount that has it live.
class BranchLockHold {
 public:
  static Result<std::unique_ptr<BranchLockHold>> Take(const std::string& store_dir, const std::string& branch);
  ~BranchLockHold();

 private:
  int fd_ = -1;
  std::string store_dir_, branch_;
};

// This daemon's entry: holds its branch's lock for as long as it lives.
class MountRegistration {
 public:
  // Busy, naming the other mount, when another mount has `branch` live.
  static Result<std::unique_ptr<MountRegistration>> Register(const std::string& store_dir,
                                                             const std::string& mountpoint, const std::string& branch);
  ~MountRegistration();  // removes the entry
  // Takes `branch`'s lock (Busy, naming the other mount, when another mount
  // has it), runs `change` (the filesystem's switch), and lets the old
  // branch's lock go only when `change` succeeded; else the new lock goes
  // and nothing changed.
  Status Switch(const std::string& branch, const std::function<Status()>& change);
  const std::string& branch() const { return branch_; }

 private:
  MountRegistration() = default;
  Status WriteInfo();
  std::string store_dir_, mountpoint_, branch_;
  int branch_fd_ = -1;
};

}  // namespace ciuicfs::cli

#endif  // CIUICFS_FS_CLI_MOUNTS_H_
