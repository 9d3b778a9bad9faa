#include "store/extent/extent_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>

namespace ciuicfs {
namespace {

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

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

void ExtentWriter::Touch() { store_->Touch(); }

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
    Touch();
    dir_created_gen_ = ++generation_;
    ++created_;
    return std::unique_ptr<ExtentWriter>(new ExtentWriter(this, n, path, fd));
  }
}

Result<int> ExtentStore::OpenFile(uint32_t extent, int flags) const {
  int fd = open(Path(extent).c_str(), flags | O_CLOEXEC);
  if (fd >= 0) return fd;
  if (errno == ENOENT) return Status::NotFound(Name(extent) + " is gone");
  return Status::FromErrno(errno, "open " + Name(extent));
}

Result<std::shared_ptr<ExtentFd>> ExtentStore::OpenRead(uint32_t extent) {
  auto fd = OpenFile(extent, O_RDONLY);
  if (!fd.ok()) return fd.status();
  return std::make_shared<ExtentFd>(*fd);
}

Result<std::shared_ptr<ExtentFd>> ExtentStore::OpenVersionReader(uint32_t extent) {
  auto fd = OpenFile(extent, O_RDONLY);
  if (!fd.ok()) return fd.status();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++version_readers_[extent];
  }
  return std::shared_ptr<ExtentFd>(new ExtentFd(*fd), [this, extent](ExtentFd* f) {
    delete f;
    ReaderClosed(extent);
  });
}

void ExtentStore::ReaderClosed(uint32_t extent) {
  std::vector<std::pair<uint64_t, uint64_t>> punches;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (--version_readers_[extent] > 0) return;
    version_readers_.erase(extent);
    auto it = deferred_punches_.find(extent);
    if (it == deferred_punches_.end()) return;
    punches = std::move(it->second);
    deferred_punches_.erase(it);
  }
  for (auto& [off, n] : punches) (void)Punch(extent, off, n);  // a failure leaves the space allocated, no more
}

Status ExtentStore::PunchOrDefer(uint32_t extent, uint64_t offset, uint64_t n) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (version_readers_.count(extent)) {
      deferred_punches_[extent].emplace_back(offset, n);
      return Status::Ok();
    }
  }
  return Punch(extent, offset, n);
}

Result<uint64_t> ExtentStore::FileSize(uint32_t extent) {
  struct stat st;
  if (stat(Path(extent).c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + Name(extent));
  return static_cast<uint64_t>(st.st_size);
}

Result<uint64_t> ExtentStore::AllocatedSize(uint32_t extent) {
  struct stat st;
  if (stat(Path(extent).c_str(), &st) != 0) return Status::FromErrno(errno, "stat " + Name(extent));
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

Result<std::shared_ptr<ExtentFd>> ExtentStore::OpenForUpdate(uint32_t extent) {
  auto fd = OpenFile(extent, O_RDWR);
  if (!fd.ok()) return fd.status();
  return std::make_shared<ExtentFd>(*fd);
}

Status ExtentStore::ReadAt(uint32_t extent, uint64_t offset, size_t n, char* dst) {
  Status s = ReadAtOnce(extent, offset, n, dst);
  if (s.ok()) return s;
  {  // a descriptor cached before the file was replaced or removed: once more, afresh
    std::lock_guard<std::mutex> lock(mu_);
    read_fds_.erase(extent);
  }
  s = ReadAtOnce(extent, offset, n, dst);
  if (s.IsNotFound()) return Status::Corruption(Name(extent) + " is missing; the chunks kept in it are lost");
  return s;
}

Status ExtentStore::ReadAtOnce(uint32_t extent, uint64_t offset, size_t n, char* dst) {
  std::shared_ptr<ExtentFd> fd;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = read_fds_.find(extent);
    if (it != read_fds_.end()) fd = it->second;
  }
  if (!fd) {
    auto opened = OpenRead(extent);
    if (!opened.ok()) return opened.status();
    fd = *opened;
    std::lock_guard<std::mutex> lock(mu_);
    if (read_fds_.size() >= 256) read_fds_.clear();  // a small cache of descriptors
    read_fds_[extent] = fd;
  }
  for (size_t done = 0; done < n;) {
    ssize_t r = pread(fd->get(), dst + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Status::FromErrno(errno, "read " + Name(extent));
    if (r == 0) return Status::Corruption(Name(extent) + " is shorter than a chunk it holds (lost)");
    done += static_cast<size_t>(r);
  }
  return Status::Ok();
}

Status ExtentStore::CopyInto(uint32_t extent, int fd, uint64_t n) {
  auto from = OpenRead(extent);
  if (!from.ok()) return from.status();
  loff_t in = 0, out = 0;
  while (static_cast<uint64_t>(in) < n) {
    ssize_t c = copy_file_range((*from)->get(), &in, fd, &out, n - uint64_t(in), 0);
    if (c < 0 && errno == EINTR) continue;
    if (c < 0) return Status::FromErrno(errno, "copy " + Name(extent));
    if (c == 0) return Status::Corruption(Name(extent) + " is shorter than its versions (lost)");
  }
  return Status::Ok();
}

Status ExtentStore::Punch(uint32_t extent, uint64_t offset, uint64_t n) {
  if (n == 0) return Status::Ok();
  auto fd = OpenForUpdate(extent);
  if (!fd.ok()) return fd.status();
  if (fallocate((*fd)->get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                static_cast<off_t>(n)) != 0 && errno != EOPNOTSUPP)
    return Status::FromErrno(errno, "punch " + Name(extent));
  return Status::Ok();
}

void ExtentStore::NoteCommitted(uint32_t extent) {
  std::lock_guard<std::mutex> lock(mu_);
  committed_[extent] = ++generation_;
  ever_committed_.insert(extent);
  Touch();
}

std::set<uint32_t> ExtentStore::committed_here() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ever_committed_;
}

Status ExtentStore::SyncCommitted(const std::vector<uint32_t>& also) {
  std::set<uint32_t> todo(also.begin(), also.end());
  std::map<uint32_t, uint64_t> seen;  // what this sync covers: only those are marked synced after it
  bool dir;
  uint64_t dir_gen;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seen = committed_;
    for (auto& [e, gen] : committed_) todo.insert(e);
    dir_gen = dir_created_gen_;
    dir = dir_created_gen_ > dir_synced_gen_;
  }
  // The folder's names and the files' bytes need no order between them,
  // only both before the index names the files: the folder is synced on
  // a thread of its own meanwhile, so its journal commit overlaps the
  // data's writeback instead of following it.
  std::future<Status> dir_synced;
  if (dir)
    dir_synced = std::async(std::launch::async, [this] {
      int fd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return Status::FromErrno(errno, "open " + dir_);
      int rc = fsync(fd);
      int err = errno;
      close(fd);
      return rc != 0 ? Status::FromErrno(err, "sync " + dir_) : Status::Ok();
    });
  Status files = Status::Ok();
  for (uint32_t e : todo) {
    int fd = open(Path(e).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;  // ingested and removed: its bytes are in synced packs
      files = Status::FromErrno(errno, "open " + Name(e));
      break;
    }
    int rc = fdatasync(fd);
    int err = errno;
    close(fd);
    if (rc != 0) {
      files = Status::FromErrno(err, "sync " + Name(e));
      break;
    }
  }
  Status names = dir ? dir_synced.get() : Status::Ok();  // joined on every path
  CIUIC_RETURN_IF_ERROR(files);
  CIUIC_RETURN_IF_ERROR(names);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [e, gen] : seen) {  // a commit noted during the sync needs the next one
    auto it = committed_.find(e);
    if (it != committed_.end() && it->second == gen) committed_.erase(it);
  }
  if (dir) dir_synced_gen_ = std::max(dir_synced_gen_, dir_gen);
  return Status::Ok();
}

Status ExtentStore::Remove(uint32_t extent) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    committed_.erase(extent);
    ever_committed_.erase(extent);
    read_fds_.erase(extent);
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

Result<uint64_t> ExtentStore::RemoveUnlisted(const std::function<Result<std::set<uint32_t>>()>& listed_now) {
  auto present = List();
  if (!present.ok()) return present.status();
  std::set<uint32_t> writing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    writing = writing_;
  }
  auto listed = listed_now();
  if (!listed.ok()) return listed.status();
  uint64_t removed = 0;
  for (uint32_t e : *present) {
    if (listed->count(e) || writing.count(e)) continue;
    CIUIC_RETURN_IF_ERROR(Remove(e));
    ++removed;
  }
  return removed;
}

bool ExtentStore::IsWriting(uint32_t extent) const {
  std::lock_guard<std::mutex> lock(mu_);
  return writing_.count(extent) != 0;
}

void ExtentStore::Touch() { last_activity_ns_ = SteadyNs(); }

bool ExtentStore::saving() const { return writing() > 0 && !idle_for(std::chrono::seconds(1)); }

bool ExtentStore::idle_for(std::chrono::nanoseconds d) const { return SteadyNs() - last_activity_ns_.load() >= d.count(); }

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
