#include "fs/cli/mounts.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <mutex>
#include <set>

namespace ciuicfs::cli {
namespace {

std::string BranchLockPath(const std::string& store_dir, const std::string& branch) {
  return MountsDir(store_dir) + "/branch-" + branch + ".lock";
}

// The branch lock files this process holds: opening and closing another
// descriptor of one would drop its lock, so they are never opened again.
std::mutex held_mu;
std::set<std::string>& Held() {
  static std::set<std::string> held;
  return held;
}

// The branch's lock file, locked for writing by this process; Busy naming
// the mountpoint in it when another process holds the lock.
Result<int> LockBranch(const std::string& store_dir, const std::string& branch, const std::string& mountpoint) {
  const std::string path = BranchLockPath(store_dir, branch);
  std::lock_guard<std::mutex> lock(held_mu);
  if (Held().count(path)) return Status::Busy("branch '" + branch + "' is live in this mount");
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (fcntl(fd, F_SETLK, &fl) != 0) {
    int err = errno;
    std::string holder;
    std::ifstream in(path);
    std::getline(in, holder);
    close(fd);
    if (err == EAGAIN || err == EACCES)
      return Status::Busy("branch '" + branch + "' is mounted for writing at " + (holder.empty() ? "another mountpoint" : holder));
    return Status::FromErrno(err, "lock " + path);
  }
  const std::string text = mountpoint + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, text.data(), text.size(), 0) != ssize_t(text.size())) {
    close(fd);
    return Status::IOError("write " + path);
  }
  Held().insert(path);
  return fd;
}

// Lets a branch lock from LockBranch go.
void UnlockBranch(const std::string& store_dir, const std::string& branch, int fd) {
  std::lock_guard<std::mutex> lock(held_mu);
  Held().erase(BranchLockPath(store_dir, branch));
  close(fd);
}

bool ParseInfo(const std::string& path, MountEntry* e) {
  std::ifstream in(path);
  return in && std::getline(in, e->mountpoint) && std::getline(in, e->branch) && !e->mountpoint.empty();
}

}  // namespace

std::string MountsDir(const std::string& store_dir) { return store_dir + "/mounts"; }

std::string MountSocketPath(const std::string& store_dir, pid_t pid) {
  return MountsDir(store_dir) + "/" + std::to_string(pid) + ".sock";
}

std::optional<MountEntry> FindMount(const std::string& store_dir, const std::string& mountpoint) {
  DIR* d = opendir(MountsDir(store_dir).c_str());
  if (!d) return std::nullopt;
  std::optional<MountEntry> found;
  while (struct dirent* de = readdir(d)) {
    std::string name = de->d_name;
    if (name.size() < 6 || name.substr(name.size() - 5) != ".info") continue;
    MountEntry e;
    e.pid = static_cast<pid_t>(std::atol(name.c_str()));
    if (e.pid <= 0 || !ParseInfo(MountsDir(store_dir) + "/" + name, &e)) continue;
    if (kill(e.pid, 0) != 0 && errno == ESRCH) continue;  // a daemon that died without cleaning up
    if (e.mountpoint == mountpoint) {
      found = e;
      break;
    }
  }
  closedir(d);
  return found;
}

Result<std::unique_ptr<MountRegistration>> MountRegistration::Register(const std::string& store_dir,
                                                                       const std::string& mountpoint,
                                                                       const std::string& branch) {
  if (mkdir(MountsDir(store_dir).c_str(), 0700) != 0 && errno != EEXIST)
    return Status::FromErrno(errno, "create " + MountsDir(store_dir));
  auto fd = LockBranch(store_dir, branch, mountpoint);
  if (!fd.ok()) return fd.status();
  std::unique_ptr<MountRegistration> r(new MountRegistration());
  r->store_dir_ = store_dir;
  r->mountpoint_ = mountpoint;
  r->branch_ = branch;
  r->branch_fd_ = *fd;
  CIUIC_RETURN_IF_ERROR(r->WriteInfo());
  return r;
}

MountRegistration::~MountRegistration() {
  unlink((MountsDir(store_dir_) + "/" + std::to_string(getpid()) + ".info").c_str());
  if (branch_fd_ >= 0) UnlockBranch(store_dir_, branch_, branch_fd_);
}

Status MountRegistration::Switch(const std::string& branch, const std::function<Status()>& change) {
  if (branch == branch_) return change();
  auto fd = LockBranch(store_dir_, branch, mountpoint_);
  if (!fd.ok()) return fd.status();
  Status s = change();
  if (!s.ok()) {
    UnlockBranch(store_dir_, branch, *fd);
    return s;
  }
  UnlockBranch(store_dir_, branch_, branch_fd_);  // the old branch is free for another mount
  branch_fd_ = *fd;
  branch_ = branch;
  return WriteInfo();
}

Result<std::unique_ptr<BranchLockHold>> BranchLockHold::Take(const std::string& store_dir, const std::string& branch) {
  if (mkdir(MountsDir(store_dir).c_str(), 0700) != 0 && errno != EEXIST)
    return Status::FromErrno(errno, "create " + MountsDir(store_dir));
  auto fd = LockBranch(store_dir, branch, "(a command deleting the branch)");
  if (!fd.ok()) return fd.status();
  std::unique_ptr<BranchLockHold> hold(new BranchLockHold());
  hold->fd_ = *fd;
  hold->store_dir_ = store_dir;
  hold->branch_ = branch;
  return hold;
}

BranchLockHold::~BranchLockHold() {
  if (fd_ >= 0) UnlockBranch(store_dir_, branch_, fd_);
}

Status MountRegistration::WriteInfo() {
  const std::string path = MountsDir(store_dir_) + "/" + std::to_string(getpid()) + ".info";
  const std::string tmp = path + ".tmp", text = mountpoint_ + "\n" + branch_ + "\n";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create " + tmp);
  const bool ok = write(fd, text.data(), text.size()) == ssize_t(text.size());
  close(fd);
  if (!ok) return Status::IOError("write " + tmp);
  if (rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno(errno, "rename " + tmp);
  return Status::Ok();
}

}  // namespace ciuicfs::cli
