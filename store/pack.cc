#include "store/pack.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "store/coding.h"
#include "store/crash_point.h"

namespace ciuicfs {
namespace {

constexpr char kPackMagic[8] = {'C', 'I', 'U', 'I', 'C', 'P', 'K', '1'};
constexpr char kRecordMagic[4] = {'C', 'K', 'R', '1'};

void EncodeRecordHeader(const ChunkId& id, const PackLocation& loc, uint8_t* h) {
  std::memset(h, 0, kRecordHeaderSize);
  std::memcpy(h, kRecordMagic, 4);
  h[4] = static_cast<uint8_t>(loc.encoding);
  StoreLE<uint32_t>(h + 8, loc.stored_len);
  StoreLE<uint32_t>(h + 12, loc.raw_len);
  StoreLE<uint64_t>(h + 16, id.lo);
  StoreLE<uint64_t>(h + 24, id.hi);
  StoreLE<uint64_t>(h + 56, Checksum64(h, 56));
}

// Parses a record header; false when it is not a whole, valid header.
bool DecodeRecordHeader(const uint8_t* h, uint32_t pack, uint64_t offset, ScannedRecord* rec) {
  if (std::memcmp(h, kRecordMagic, 4) != 0) return false;
  if (LoadLE<uint64_t>(h + 56) != Checksum64(h, 56)) return false;
  if (h[4] > static_cast<uint8_t>(Encoding::kXorDeltaZstd)) return false;
  rec->id = Hash128::FromBytes(h + 16);
  rec->location = PackLocation{pack, offset, LoadLE<uint32_t>(h + 8), LoadLE<uint32_t>(h + 12),
                               static_cast<Encoding>(h[4])};
  return true;
}

Status PreadFull(int fd, void* buf, size_t n, uint64_t off, const std::string& what) {
  auto* p = static_cast<uint8_t*>(buf);
  while (n > 0) {
    ssize_t r = pread(fd, p, n, static_cast<off_t>(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "read " + what);
    }
    if (r == 0) return Status::Corruption("short read of " + what + " at offset " + std::to_string(off));
    p += r;
    n -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return Status::Ok();
}

Status PwritevFull(int fd, struct iovec* iov, int cnt, uint64_t off, const std::string& what) {
  while (cnt > 0) {
    ssize_t w = pwritev(fd, iov, cnt, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "write " + what);
    }
    off += static_cast<uint64_t>(w);
    while (cnt > 0 && static_cast<size_t>(w) >= iov->iov_len) {
      w -= static_cast<ssize_t>(iov->iov_len);
      ++iov;
      --cnt;
    }
    if (cnt > 0) {
      iov->iov_base = static_cast<uint8_t*>(iov->iov_base) + w;
      iov->iov_len -= static_cast<size_t>(w);
    }
  }
  return Status::Ok();
}

}  // namespace

std::string PackFileName(uint32_t pack) {
  char name[32];
  std::snprintf(name, sizeof(name), "%08x.pack", pack);
  return name;
}

struct PackStore::Handle {
  Handle(uint32_t p, int f) : pack(p), fd(f), name("packs/" + PackFileName(p)) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  uint32_t pack;
  int fd;
  std::string name;  // "packs/<n>.pack", for messages
  ~Handle() {
    if (fd >= 0) close(fd);
  }
};

PackStore::PackStore(std::string dir, uint32_t next_pack, uint64_t target_size)
    : dir_(std::move(dir)), target_size_(target_size), next_pack_(next_pack) {}

PackStore::~PackStore() = default;

uint32_t PackStore::active_pack() const {
  std::lock_guard<std::mutex> lock(append_mu_);
  return active_ ? active_->pack : 0;
}

Status PackStore::OpenNewActive() {
  uint32_t pack = next_pack_++;
  std::string path = dir_ + "/" + PackFileName(pack);
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno(errno, "create " + path);
  auto h = std::make_shared<Handle>(pack, fd);
  uint8_t header[kPackHeaderSize] = {};
  std::memcpy(header, kPackMagic, 8);
  StoreLE<uint32_t>(header + 8, 1);
  StoreLE<uint32_t>(header + 12, pack);
  struct iovec iov = {header, sizeof(header)};
  CIUIC_RETURN_IF_ERROR(PwritevFull(fd, &iov, 1, 0, h->name));
  active_ = h;
  active_end_ = kPackHeaderSize;
  dir_dirty_ = true;
  unsynced_[pack] = {h, active_end_};
  std::lock_guard<std::mutex> lock(cache_mu_);
  cache_[pack] = h;
  return Status::Ok();
}

Result<PackLocation> PackStore::Append(const ChunkId& id, const uint8_t* data, size_t n) {
  std::lock_guard<std::mutex> lock(append_mu_);
  if (!active_ || active_end_ >= target_size_) CIUIC_RETURN_IF_ERROR(OpenNewActive());
  PackLocation loc{active_->pack, active_end_, static_cast<uint32_t>(n), static_cast<uint32_t>(n),
                   Encoding::kRaw};
  uint8_t header[kRecordHeaderSize];
  EncodeRecordHeader(id, loc, header);
  struct iovec iov[2] = {{header, sizeof(header)}, {const_cast<uint8_t*>(data), n}};
  if (CrashPointArmed("pack.torn_record")) {
    iov[1].iov_len = n / 2;  // leave a torn record at the tail, then die
    (void)PwritevFull(active_->fd, iov, 2, loc.offset, active_->name);
    CrashPoint("pack.torn_record");
  }
  Status s = PwritevFull(active_->fd, iov, 2, loc.offset, active_->name);
  if (!s.ok()) {
    // Whatever part was written stays past the indexed end and is cut on
    // the next open; new records must not land behind a hole.
    active_.reset();
    return s;
  }
  active_end_ = loc.end();
  unsynced_[loc.pack] = {active_, active_end_};
  return loc;
}

Result<std::shared_ptr<PackStore::Handle>> PackStore::OpenForRead(uint32_t pack) {
  std::lock_guard<std::mutex> lock(cache_mu_);
  auto it = cache_.find(pack);
  if (it != cache_.end()) return it->second;
  std::string path = dir_ + "/" + PackFileName(pack);
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open packs/" + PackFileName(pack));
  if (cache_.size() >= 512) {  // drop handles nobody else holds
    for (auto c = cache_.begin(); c != cache_.end();)
      c = c->second.use_count() == 1 ? cache_.erase(c) : std::next(c);
  }
  auto h = std::make_shared<Handle>(pack, fd);
  cache_[pack] = h;
  return h;
}

Status PackStore::Read(const ChunkId& id, const PackLocation& loc, std::string* out) {
  auto h = OpenForRead(loc.pack);
  if (!h.ok()) return h.status();
  const std::string where = "chunk " + id.Hex() + " in " + (*h)->name + " at offset " +
                            std::to_string(loc.offset);
  uint8_t header[kRecordHeaderSize];
  CIUIC_RETURN_IF_ERROR(PreadFull((*h)->fd, header, sizeof(header), loc.offset, (*h)->name));
  ScannedRecord rec;
  if (!DecodeRecordHeader(header, loc.pack, loc.offset, &rec))
    return Status::Corruption(where + ": bad record header");
  if (rec.id != id || rec.location.stored_len != loc.stored_len ||
      rec.location.raw_len != loc.raw_len || rec.location.encoding != loc.encoding)
    return Status::Corruption(where + ": record header does not match the index");
  if (loc.encoding != Encoding::kRaw)
    return Status::Corruption(where + ": unsupported encoding " + std::to_string(int(loc.encoding)));
  out->resize(loc.raw_len);
  CIUIC_RETURN_IF_ERROR(
      PreadFull((*h)->fd, out->data(), loc.stored_len, loc.offset + kRecordHeaderSize, (*h)->name));
  if (Hash128::Of(out->data(), out->size()) != id) {
    out->clear();
    return Status::Corruption(where + ": content does not match its id");
  }
  return Status::Ok();
}

Status PackStore::SyncAll(std::map<uint32_t, uint64_t>* synced_ends) {
  std::map<uint32_t, std::pair<std::shared_ptr<Handle>, uint64_t>> todo;
  bool dir_dirty;
  {
    std::lock_guard<std::mutex> lock(append_mu_);
    todo.swap(unsynced_);
    dir_dirty = dir_dirty_;
    dir_dirty_ = false;
  }
  Status result;
  for (auto& [pack, entry] : todo) {
    if (fdatasync(entry.first->fd) != 0 && result.ok())
      result = Status::FromErrno(errno, "fdatasync " + entry.first->name);
    if (synced_ends) (*synced_ends)[pack] = entry.second;
  }
  if (dir_dirty) {
    int dfd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
      if (result.ok()) result = Status::FromErrno(errno, "fsync " + dir_);
    }
    if (dfd >= 0) close(dfd);
  }
  if (!result.ok()) {  // keep them dirty so the next durable commit retries
    std::lock_guard<std::mutex> lock(append_mu_);
    for (auto& [pack, entry] : todo) unsynced_.try_emplace(pack, entry);
    dir_dirty_ = dir_dirty_ || dir_dirty;
    if (synced_ends) synced_ends->clear();
  }
  return result;
}

Status PackStore::Scan(uint32_t pack, uint64_t from, uint64_t to, bool verify_payload,
                       std::vector<ScannedRecord>* records, uint64_t* valid_end) {
  auto h = OpenForRead(pack);
  if (!h.ok()) return h.status();
  if (from < kPackHeaderSize) {
    uint8_t header[kPackHeaderSize];
    *valid_end = 0;
    if (to < kPackHeaderSize || !PreadFull((*h)->fd, header, sizeof(header), 0, (*h)->name).ok() ||
        std::memcmp(header, kPackMagic, 8) != 0)
      return Status::Ok();
    from = kPackHeaderSize;
  }
  *valid_end = from;
  std::string payload;
  for (uint64_t off = from; off + kRecordHeaderSize <= to;) {
    uint8_t header[kRecordHeaderSize];
    if (!PreadFull((*h)->fd, header, sizeof(header), off, (*h)->name).ok()) break;
    ScannedRecord rec;
    if (!DecodeRecordHeader(header, pack, off, &rec) || rec.location.end() > to) break;
    if (verify_payload) {
      if (Read(rec.id, rec.location, &payload).IsCorruption()) break;
    }
    if (records) records->push_back(rec);
    off = rec.location.end();
    *valid_end = off;
  }
  return Status::Ok();
}

Result<uint64_t> PackStore::FileSize(uint32_t pack) {
  struct stat st;
  std::string path = dir_ + "/" + PackFileName(pack);
  if (stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "stat packs/" + PackFileName(pack));
  return static_cast<uint64_t>(st.st_size);
}

Status PackStore::Truncate(uint32_t pack, uint64_t size) {
  std::string path = dir_ + "/" + PackFileName(pack);
  if (truncate(path.c_str(), static_cast<off_t>(size)) != 0)
    return Status::FromErrno(errno, "truncate packs/" + PackFileName(pack));
  return Status::Ok();
}

Status PackStore::Remove(uint32_t pack) {
  {
    std::lock_guard<std::mutex> lock(append_mu_);
    if (active_ && active_->pack == pack) active_.reset();
    unsynced_.erase(pack);
  }
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    cache_.erase(pack);
  }
  std::string path = dir_ + "/" + PackFileName(pack);
  if (unlink(path.c_str()) != 0 && errno != ENOENT)
    return Status::FromErrno(errno, "remove packs/" + PackFileName(pack));
  return Status::Ok();
}

Result<std::vector<uint32_t>> PackStore::ListFiles() {
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

}  // namespace ciuicfs
