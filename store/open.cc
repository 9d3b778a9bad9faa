#include "store/open.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

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

Status WriteMarker(const std::string& dir) {
  const std::string path = dir + "/" + kMarkerName;
  const std::string tmp = path + ".tmp";
  const std::string text = kMarkerPrefix + std::to_string(kFormatVersion) + "\n";
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
