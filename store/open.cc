#include "store/open.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <set>

#include "store/base/coding.h"
#include "store/index/queries.h"

namespace ciuicfs {
namespace {

constexpr char kMarkerName[] = "CIUICFS-STORE";
constexpr char kMarkerPrefix[] = "ciuicfs store v";

bool IsEmptyDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  bool empty = true;
  while (struct dirent* e = readdir(d)) {
    const std::string_view name(e->d_name);
    // A cache of a store on RADOS is claimed (its RADOS file) before it is made.
    if (name != "." && name != ".." && name != "RADOS") {
      empty = false;
      break;
    }
  }
  closedir(d);
  return empty;
}

Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno(errno, "create " + path);
  return Status::Ok();
}

// The format the marker names: 1 or 2.
Result<uint32_t> ReadMarker(const std::string& dir) {
  const std::string path = dir + "/" + kMarkerName;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  char buf[64];
  ssize_t n = read(fd, buf, sizeof(buf));
  close(fd);
  if (n < 0) return Status::FromErrno(errno, "read " + path);
  const std::string text(buf, size_t(n));
  const std::string prefix = kMarkerPrefix;
  if (text == prefix + "1\n") return uint32_t{1};
  if (text == prefix + "2\n") return uint32_t{2};
  return Status::InvalidArgument(path + " names no store format this ciuicfs knows (it reads formats 1 and 2)");
}

// *format is 0 for a new index.
Status ReadMeta(Txn& txn, uint32_t* format, ChunkerParams* params) {
  auto f = txn.Get(Db::kMeta, "format");
  if (!f.ok()) return f.status();
  *format = 0;
  if (!f->has_value()) return Status::Ok();
  if ((*f)->size() != 4) return CorruptRow(Db::kMeta, "format");
  *format = LoadLE<uint32_t>((*f)->data());
  if (*format != 1 && *format != kFormatVersion)
    return Status::InvalidArgument("store format " + std::to_string(*format) + " is not one this ciuicfs knows");
  auto c = txn.Get(Db::kMeta, "chunker");
  if (!c.ok()) return c.status();
  if (!*c || (*c)->size() != 12) return Status::Corruption("index: meta/chunker missing");
  const char* p = (*c)->data();
  *params = ChunkerParams{LoadLE<uint32_t>(p), LoadLE<uint32_t>(p + 4), LoadLE<uint32_t>(p + 8)};
  return params->Validate();
}

}  // namespace

Status WriteFileDurably(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create " + tmp);
  ssize_t n = write(fd, text.data(), text.size());
  int err = errno;
  bool ok = n == ssize_t(text.size()) && fsync(fd) == 0;
  close(fd);
  if (!ok) return Status::FromErrno(n < 0 ? err : EIO, "write " + tmp);
  if (rename(tmp.c_str(), path.c_str()) != 0) return Status::FromErrno(errno, "rename " + tmp);
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Status::FromErrno(errno, "open " + dir);
  ok = fsync(dfd) == 0;
  err = errno;
  close(dfd);
  if (!ok) return Status::FromErrno(err, "fsync " + dir);
  return Status::Ok();
}

Status WriteMarker(const std::string& dir) {
  return WriteFileDurably(dir, kMarkerName, kMarkerPrefix + std::to_string(kFormatVersion) + "\n");
}

Status PrepareStoreDir(const std::string& dir, bool create, uint32_t* marker_format) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT || !create) return Status::FromErrno(errno, "open store " + dir);
    CIUIC_RETURN_IF_ERROR(MakeDir(dir));
  } else if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(dir + " is not a directory");
  }
  const std::string marker = dir + "/" + kMarkerName;
  if (access(marker.c_str(), F_OK) == 0) {
    auto format = ReadMarker(dir);
    if (!format.ok()) return format.status();
    *marker_format = *format;
    return Status::Ok();
  }
  if (!IsEmptyDir(dir)) return Status::InvalidArgument(dir + " is not a ciuicfs store (no " + kMarkerName + ")");
  if (!create) return Status::NotFound("no store at " + dir);
  CIUIC_RETURN_IF_ERROR(MakeDir(dir + "/index"));
  CIUIC_RETURN_IF_ERROR(MakeDir(dir + "/packs"));
  *marker_format = kFormatVersion;
  return WriteMarker(dir);
}

namespace {

// The whole-file POSIX lock of type `type` (F_RDLCK, F_WRLCK) on `fd`,
// without waiting. POSIX locks belong to the process, so one that holds
// the shared lock can ask for the exclusive one: it converts, or fails and
// keeps the shared one.
bool SetLock(int fd, short type) {
  struct flock fl = {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  return fcntl(fd, F_SETLK, &fl) == 0;
}

// POSIX locks cannot keep a process from itself: the stores this process
// has open, by the LOCK file's device and inode.
std::mutex open_mu;
std::set<std::pair<dev_t, ino_t>>& OpenHere() {
  static std::set<std::pair<dev_t, ino_t>> open;
  return open;
}

Result<int> OpenLockFile(const std::string& dir) {
  const std::string lock_path = dir + "/LOCK";
  std::lock_guard<std::mutex> lock(open_mu);
  // Checked before LOCK is opened: closing any descriptor of it would drop
  // the lock this process already holds there.
  struct stat st;
  if (stat(lock_path.c_str(), &st) == 0 && OpenHere().count({st.st_dev, st.st_ino}))
    return Status::Busy("store " + dir + " is in use by another opener in this process");
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "open " + lock_path);
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return Status::FromErrno(err, "stat " + lock_path);
  }
  OpenHere().insert({st.st_dev, st.st_ino});
  return fd;
}

// Closes a LOCK descriptor from OpenLockFile.
void CloseLockFile(int fd) {
  struct stat st;
  if (fstat(fd, &st) == 0) {
    std::lock_guard<std::mutex> lock(open_mu);
    OpenHere().erase({st.st_dev, st.st_ino});
  }
  close(fd);
}

}  // namespace

Result<int> LockStore(const std::string& dir) {
  auto fd = OpenLockFile(dir);
  if (!fd.ok()) return fd;
  if (!SetLock(*fd, F_WRLCK)) {
    int err = errno;
    CloseLockFile(*fd);
    if (err == EAGAIN || err == EACCES) return Status::Busy("store " + dir + " is in use by another process");
    return Status::FromErrno(err, "lock " + dir + "/LOCK");
  }
  return fd;
}

Result<int> LockStoreShared(const std::string& dir, bool* alone) {
  auto fd = OpenLockFile(dir);
  if (!fd.ok()) return fd;
  if (SetLock(*fd, F_WRLCK)) {
    *alone = true;
    return fd;
  }
  *alone = false;
  int err = errno;
  for (int i = 0; i < 100 && (err == EAGAIN || err == EACCES); ++i) {  // an exclusive holder may be repairing, or in gc
    if (SetLock(*fd, F_RDLCK)) return fd;
    err = errno;
    usleep(100 * 1000);
  }
  CloseLockFile(*fd);
  if (err == EAGAIN || err == EACCES)
    return Status::Busy("store " + dir + " is in use by a process that has it alone (unmount it, or wait for its gc)");
  return Status::FromErrno(err, "lock " + dir + "/LOCK");
}

Status ShareLock(int fd) {
  if (!SetLock(fd, F_RDLCK)) return Status::FromErrno(errno, "share the store lock");
  return Status::Ok();
}

bool TryExclusive(int fd) { return SetLock(fd, F_WRLCK); }

bool OthersHoldLock(int fd) {
  if (fd < 0) return false;
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (fcntl(fd, F_GETLK, &fl) != 0) return true;  // cannot tell: assume so
  return fl.l_type != F_UNLCK;
}

void UnlockStore(int fd) { CloseLockFile(fd); }

Status ReadOrInitMeta(LmdbEnv* env, const ChunkerParams& wanted, bool read_only, ChunkerParams* params,
                      uint32_t* format) {
  if (read_only) {
    auto txn = env->BeginRead();
    if (!txn.ok()) return txn.status();
    CIUIC_RETURN_IF_ERROR(ReadMeta(**txn, format, params));
    return *format != 0 ? Status::Ok() : Status::Corruption("index: meta/format missing");
  }
  return env->Write([&](Txn& txn) -> Status {
    CIUIC_RETURN_IF_ERROR(ReadMeta(txn, format, params));
    if (*format != 0) return Status::Ok();
    *format = kFormatVersion;
    std::string f, c;
    PutLE<uint32_t>(&f, kFormatVersion);
    PutLE<uint32_t>(&c, wanted.min_size);
    PutLE<uint32_t>(&c, wanted.avg_size);
    PutLE<uint32_t>(&c, wanted.max_size);
    CIUIC_RETURN_IF_ERROR(txn.Put(Db::kMeta, "format", f));
    CIUIC_RETURN_IF_ERROR(txn.Put(Db::kMeta, "chunker", c));
    *params = wanted;
    return Status::Ok();
  });
}

}  // namespace ciuicfs
