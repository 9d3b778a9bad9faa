#include "store/open.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "store/base/coding.h"

namespace ciuicfs {
namespace {

constexpr char kMarkerName[] = "CIUICFS-STORE";
constexpr char kMarkerText[] = "ciuicfs store v1\n";
constexpr uint32_t kFormatVersion = 1;

bool IsEmptyDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  bool empty = true;
  while (struct dirent* e = readdir(d)) {
    if (std::string_view(e->d_name) != "." && std::string_view(e->d_name) != "..") {
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

Status WriteMarker(const std::string& dir) {
  std::string path = dir + "/" + kMarkerName;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create " + path);
  ssize_t n = write(fd, kMarkerText, sizeof(kMarkerText) - 1);
  int err = errno;
  bool ok = n == ssize_t(sizeof(kMarkerText) - 1) && fsync(fd) == 0;
  close(fd);
  if (!ok) return Status::FromErrno(n < 0 ? err : EIO, "write " + path);
  return Status::Ok();
}

// *present is false for a new index.
Status ReadMeta(Txn& txn, bool* present, ChunkerParams* params) {
  auto format = txn.Get(Db::kMeta, "format");
  if (!format.ok()) return format.status();
  *present = format->has_value();
  if (!*present) return Status::Ok();
  if ((*format)->size() != 4 || LoadLE<uint32_t>((*format)->data()) != kFormatVersion)
    return Status::InvalidArgument("store format is not version 1");
  auto c = txn.Get(Db::kMeta, "chunker");
  if (!c.ok()) return c.status();
  if (!*c || (*c)->size() != 12) return Status::Corruption("index: meta/chunker missing");
  const char* p = (*c)->data();
  *params = ChunkerParams{LoadLE<uint32_t>(p), LoadLE<uint32_t>(p + 4), LoadLE<uint32_t>(p + 8)};
  return params->Validate();
}

}  // namespace

Status PrepareStoreDir(const std::string& dir, bool create) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT || !create) return Status::FromErrno(errno, "open store " + dir);
    CIUIC_RETURN_IF_ERROR(MakeDir(dir));
  } else if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(dir + " is not a directory");
  }
  const std::string marker = dir + "/" + kMarkerName;
  if (access(marker.c_str(), F_OK) == 0) return Status::Ok();
  if (!IsEmptyDir(dir)) return Status::InvalidArgument(dir + " is not a ciuicfs store (no " + kMarkerName + ")");
  if (!create) return Status::NotFound("no store at " + dir);
  CIUIC_RETURN_IF_ERROR(MakeDir(dir + "/index"));
  CIUIC_RETURN_IF_ERROR(MakeDir(dir + "/packs"));
  return WriteMarker(dir);
}

Result<int> LockStore(const std::string& dir) {
  const std::string lock_path = dir + "/LOCK";
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) return Status::FromErrno(errno, "open " + lock_path);
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    close(lock_fd);
    if (err == EWOULDBLOCK) return Status::Busy("store " + dir + " is in use by another process");
    return Status::FromErrno(err, "lock " + lock_path);
  }
  return lock_fd;
}

Status ReadOrInitMeta(LmdbEnv* env, const ChunkerParams& wanted, bool read_only, ChunkerParams* params) {
  if (read_only) {
    auto txn = env->BeginRead();
    if (!txn.ok()) return txn.status();
    bool present = false;
    CIUIC_RETURN_IF_ERROR(ReadMeta(**txn, &present, params));
    return present ? Status::Ok() : Status::Corruption("index: meta/format missing");
  }
  return env->Write([&](Txn& txn) -> Status {
    bool present = false;
    CIUIC_RETURN_IF_ERROR(ReadMeta(txn, &present, params));
    if (present) return Status::Ok();
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
