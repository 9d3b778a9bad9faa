#include "store/extent/extent_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <cstring>

namespace ciuicfs {
namespace {

bool ParseExtentName(const char* name, uint32_t* n) {
  if (std::strlen(name) != 12 || std::strcmp(name + 8, ".ext") != 0) return false;
  char* end = nullptr;
  unsigned long v = std::strtoul(name, &end, 16);
  if (end != name + 8 || v == 0 || v > UINT32_MAX) return false;
  *n = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

ExtentFd::~ExtentFd() {
  if (fd_ >= 0) close(fd_);
}

ExtentWriter::ExtentWriter(ExtentStore* store, uint32_t number, std::string path, int fd)
    : store_(store), number_(number), path_(std::move(path)), fd_(std::make_shared<ExtentFd>(fd)) {}

ExtentWriter::~ExtentWriter() {
  fd_.reset();
  store_->Closed(number_, path_);
}

void ExtentWriter::Seal() {
  if (sealed_) return;
  sealed_ = true;
  store_->Sealed(number_);
}

ExtentStore::ExtentStore(std::string dir) : dir_(std::move(dir) + "/extents") {}

std::string ExtentStore::Name(uint32_t extent) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "extents/%08x.ext", extent);
  return buf;
}

std::string ExtentStore::Path(uint32_t extent) const { return dir_ + "/" + Name(extent).substr(8); }

Status ExtentStore::Open(uint32_t highest_listed, bool read_only) {
  if (!read_only && mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
    return Status::FromErrno(errno, "create " + dir_);
  auto present = List();
  if (!present.ok()) return read_only ? Status::Ok() : present.status();
  std::lock_guard<std::mutex> lock(mu_);
  next_ = highest_listed + 1;
  if (!present->empty()) next_ = std::max(next_, present->back() + 1);
  return Status::Ok();
}

void ExtentStore::SetOnSealed(std::function<void(uint32_t)> fn) {
  std::lock_guard<std::mutex> lock(mu_);
  on_sealed_ = std::move(fn);
}

Result<std::unique_ptr<ExtentWriter>> ExtentStore::Create() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (next_ == UINT32_MAX) return Status::NoSpace("extent numbers exhausted");
    const uint32_t n = next_++;
    const std::string path = Path(n);
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) continue;  // another process took it
    if (fd < 0) return Status::FromErrno(errno, "create " + Name(n));
    writing_.insert(n);
    dir_dirty_ = true;
    ++created_;
    return std::unique_ptr<ExtentWriter>(new ExtentWriter(this, n, path, fd));
  }
}

Result<std::shared_ptr<ExtentFd>> ExtentStore::OpenRead(uint32_t extent) {
  int fd = open(Path(extent).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(Name(extent) + " is gone");
    return Status::FromErrno(errno, "open " + Name(extent));
  }
  return std::make_shared<ExtentFd>(fd);
}

Result<uint64_t> ExtentStore::FileSize(uint32_t extent) {
  struct stat st;
  if (stat(Path(extent).c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + Name(extent));
  return static_cast<uint64_t>(st.st_size);
}

void ExtentStore::NoteCommitted(uint32_t extent) {
  std::lock_guard<std::mutex> lock(mu_);
  committed_.insert(extent);
  ever_committed_.insert(extent);
}

Status ExtentStore::SyncCommitted(const std::vector<uint32_t>& also) {
  std::set<uint32_t> todo(also.begin(), also.end());
  bool dir;
  {
    std::lock_guard<std::mutex> lock(mu_);
    todo.insert(committed_.begin(), committed_.end());
    dir = dir_dirty_;
  }
  for (uint32_t e : todo) {
    int fd = open(Path(e).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // ingested and removed: its bytes are in synced packs
      return Status::FromErrno(errno, "open " + Name(e));
    }
    int rc = fdatasync(fd);
    int err = errno;
    close(fd);
    if (rc != 0) return Status::FromErrno(err, "sync " + Name(e));
  }
  if (dir) {
    int fd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(errno, "open " + dir_);
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    if (rc != 0) return Status::FromErrno(err, "sync " + dir_);
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (uint32_t e : todo) committed_.erase(e);
  if (dir) dir_dirty_ = false;
  return Status::Ok();
}

Status ExtentStore::Remove(uint32_t extent) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    committed_.erase(extent);
    ever_committed_.erase(extent);
  }
  if (unlink(Path(extent).c_str()) != 0 && errno != ENOENT) return Status::FromErrno(errno, "remove " + Name(extent));
  return Status::Ok();
}

Result<std::vector<uint32_t>> ExtentStore::List() const {
  DIR* d = opendir(dir_.c_str());
  if (!d) {
    if (errno == ENOENT) return std::vector<uint32_t>();
    return Status::FromErrno(errno, "list " + dir_);
  }
  std::vector<uint32_t> out;
  while (struct dirent* e = readdir(d)) {
    uint32_t n;
    if (ParseExtentName(e->d_name, &n)) out.push_back(n);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Result<uint64_t> ExtentStore::RemoveUnlisted(const std::set<uint32_t>& listed) {
  auto present = List();
  if (!present.ok()) return present.status();
  uint64_t removed = 0;
  for (uint32_t e : *present) {
    if (listed.count(e) || IsWriting(e)) continue;
    CIUIC_RETURN_IF_ERROR(Remove(e));
    ++removed;
  }
  return removed;
}

bool ExtentStore::IsWriting(uint32_t extent) const {
  std::lock_guard<std::mutex> lock(mu_);
  return writing_.count(extent) != 0;
}

size_t ExtentStore::writing() const {
  std::lock_guard<std::mutex> lock(mu_);
  return writing_.size();
}

uint64_t ExtentStore::created() const {
  std::lock_guard<std::mutex> lock(mu_);
  return created_;
}

void ExtentStore::Sealed(uint32_t extent) {
  std::function<void(uint32_t)> fn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing_.erase(extent);
    if (!ever_committed_.count(extent)) return;
    fn = on_sealed_;
  }
  if (fn) fn(extent);
}

void ExtentStore::Closed(uint32_t extent, const std::string& path) {
  bool committed, unsealed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    committed = ever_committed_.count(extent) != 0;
    unsealed = writing_.count(extent) != 0;
  }
  if (!committed) unlink(path.c_str());  // no version names it
  if (unsealed) Sealed(extent);
}

}  // namespace ciuicfs
