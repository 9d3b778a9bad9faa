#include "store/pack/local_backend.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "store/pack/format.h"

namespace ciuicfs {

struct LocalPackBackend::File {
  explicit File(int f) : fd(f) {}
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() {
    if (fd >= 0) close(fd);
  }
  int fd;
};

LocalPackBackend::LocalPackBackend(std::string dir) : dir_(std::move(dir)) {}
LocalPackBackend::~LocalPackBackend() = default;

std::string LocalPackBackend::Path(uint32_t pack) const { return dir_ + "/" + PackFileName(pack); }
std::string LocalPackBackend::Name(uint32_t pack) const { return "packs/" + PackFileName(pack); }

Result<std::shared_ptr<LocalPackBackend::File>> LocalPackBackend::Open(uint32_t pack) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(pack);
  if (it != files_.end()) return it->second;
  int fd = open(Path(pack).c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + Name(pack));
  if (files_.size() >= 512) {  // drop descriptors nobody else holds
    for (auto f = files_.begin(); f != files_.end();) f = f->second.use_count() == 1 ? files_.erase(f) : std::next(f);
  }
  auto file = std::make_shared<File>(fd);
  files_[pack] = file;
  return file;
}

Status LocalPackBackend::Create(uint32_t pack) {
  int fd = open(Path(pack).c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create " + Name(pack));
  std::lock_guard<std::mutex> lock(mu_);
  files_[pack] = std::make_shared<File>(fd);
  dir_dirty_ = true;
  named_.insert(pack);
  return Status::Ok();
}

Status LocalPackBackend::Append(uint32_t pack, uint64_t offset, const struct iovec* pieces, int count) {
  auto f = Open(pack);
  if (!f.ok()) return f.status();
  struct iovec iov[8];
  if (count > 8) return Status::InvalidArgument("append of more than 8 pieces");
  std::memcpy(iov, pieces, sizeof(struct iovec) * size_t(count));
  struct iovec* cur = iov;
  uint64_t off = offset;
  while (count > 0) {
    ssize_t w = pwritev((*f)->fd, cur, count, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      Status s = Status::FromErrno(errno, "write " + Name(pack));
      if (off != offset) (void)!ftruncate((*f)->fd, static_cast<off_t>(offset));  // whole or nothing
      return s;
    }
    off += static_cast<uint64_t>(w);
    while (count > 0 && static_cast<size_t>(w) >= cur->iov_len) {
      w -= static_cast<ssize_t>(cur->iov_len);
      ++cur;
      --count;
    }
    if (count > 0) {
      cur->iov_base = static_cast<uint8_t*>(cur->iov_base) + w;
      cur->iov_len -= static_cast<size_t>(w);
    }
  }
  return Status::Ok();
}

Status LocalPackBackend::ReadAt(uint32_t pack, uint64_t offset, void* dst, size_t n) {
  auto f = Open(pack);
  if (!f.ok()) return f.status();
  auto* p = static_cast<uint8_t*>(dst);
  while (n > 0) {
    ssize_t r = pread((*f)->fd, p, n, static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "read " + Name(pack));
    }
    if (r == 0) return Status::Corruption("short read of " + Name(pack) + " at offset " + std::to_string(offset));
    p += r;
    n -= static_cast<size_t>(r);
    offset += static_cast<uint64_t>(r);
  }
  return Status::Ok();
}

Result<uint64_t> LocalPackBackend::Size(uint32_t pack) {
  struct stat st;
  if (stat(Path(pack).c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + Name(pack));
  return static_cast<uint64_t>(st.st_size);
}

Status LocalPackBackend::Truncate(uint32_t pack, uint64_t size) {
  if (truncate(Path(pack).c_str(), static_cast<off_t>(size)) != 0)
    return Status::FromErrno(errno, "truncate " + Name(pack));
  return Status::Ok();
}

Status LocalPackBackend::Remove(uint32_t pack) {
  std::lock_guard<std::mutex> lock(mu_);  // no Open re-caches the file meanwhile
  files_.erase(pack);
  named_.erase(pack);  // a later pack with this number has a name of its own to make durable
  if (unlink(Path(pack).c_str()) != 0 && errno != ENOENT) return Status::FromErrno(errno, "remove " + Name(pack));
  return Status::Ok();
}

Result<std::vector<uint32_t>> LocalPackBackend::List() {
  DIR* d = opendir(dir_.c_str());
  if (!d) return Status::FromErrno(errno, "list " + dir_);
  std::vector<uint32_t> packs;
  while (struct dirent* e = readdir(d)) {
    unsigned int n;
    char tail[8];
    if (std::strlen(e->d_name) == 13 && std::sscanf(e->d_name, "%8x.%4s", &n, tail) == 2 &&
        std::strcmp(tail, "pack") == 0)
      packs.push_back(n);
  }
  closedir(d);
  return packs;
}

Result<uint64_t> LocalPackBackend::Sync(uint32_t pack) {
  auto f = Open(pack);
  if (!f.ok()) return f.status();
  struct stat st;
  if (fstat((*f)->fd, &st) != 0) return Status::FromErrno(errno, "stat " + Name(pack));
  if (fdatasync((*f)->fd) != 0) return Status::FromErrno(errno, "fdatasync " + Name(pack));
  // Held across the directory's fsync, so a concurrent Sync returns only
  // once the new file's name is durable too.
  std::lock_guard<std::mutex> dir_lock(dir_sync_mu_);
  bool dir_dirty;
  {
    std::lock_guard<std::mutex> lock(mu_);
    dir_dirty = std::exchange(dir_dirty_, false) | named_.insert(pack).second;
  }
  if (dir_dirty) {
    int dfd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int err = dfd < 0 || fsync(dfd) != 0 ? errno : 0;
    if (dfd >= 0) close(dfd);
    if (err != 0) {
      std::lock_guard<std::mutex> lock(mu_);
      dir_dirty_ = true;
      return Status::FromErrno(err, "fsync " + dir_);
    }
  }
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace ciuicfs
