#include "store/journal/commit_log.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>

#include "store/base/chunk_id.h"
#include "store/base/coding.h"

namespace ciuicfs {
namespace {

constexpr char kSuffix[] = ".log";
constexpr size_t kHeader = 12;              // payload length u32, XXH3-64 u64
constexpr uint32_t kMaxPayload = 64 << 20;  // far above any commit: a bigger length is damage

void PutString(std::string* out, std::string_view s) {
  PutLE<uint32_t>(out, uint32_t(s.size()));
  out->append(s);
}

// Reads little-endian fields off the front of a payload.
struct Reader {
  std::string_view in;
  bool ok = true;
  template <typename T>
  T Num() {
    if (in.size() < sizeof(T)) {
      ok = false;
      return T{};
    }
    T v = LoadLE<T>(in.data());
    in.remove_prefix(sizeof(T));
    return v;
  }
  std::string Str() {
    uint32_t n = Num<uint32_t>();
    if (!ok || in.size() < n) {
      ok = false;
      return {};
    }
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
  Hash128 Id() {
    if (in.size() < 16) {
      ok = false;
      return {};
    }
    Hash128 h = Hash128::FromBytes(in.data());
    in.remove_prefix(16);
    return h;
  }
};

bool Lock(int fd, short type, int cmd) {
  struct flock fl = {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  return fcntl(fd, cmd, &fl) == 0;
}

// The edits' kinds and attributes, after the edits (FORMAT.md, "Commit
// log"); written only when one edit has any.
void PutAttrsTail(std::string* out, const std::vector<TreeEdit>& edits) {
  for (const TreeEdit& e : edits) {
    out->push_back(char(e.special));
    const EntryAttrs& a = e.attrs;
    out->push_back(a.IsDefault() ? 0 : 1);
    if (a.IsDefault()) continue;
    PutLE<uint32_t>(out, a.uid);
    PutLE<uint32_t>(out, a.gid);
    PutLE<int64_t>(out, a.atime_ns);
    PutLE<uint64_t>(out, a.rdev);
    PutLE<uint64_t>(out, a.link);
    PutLE<uint32_t>(out, uint32_t(a.xattrs.size()));
    for (const auto& [name, value] : a.xattrs) {
      PutString(out, name);
      PutString(out, value);
    }
  }
}

bool ReadAttrsTail(Reader* in, std::vector<TreeEdit>* edits) {
  for (TreeEdit& e : *edits) {
    const uint8_t kind = in->Num<uint8_t>();
    if (kind < 1 || kind > kLastEntryKind) return false;
    e.special = EntryKind(kind);
    if (in->Num<uint8_t>() == 0) continue;
    EntryAttrs& a = e.attrs;
    a.uid = in->Num<uint32_t>();
    a.gid = in->Num<uint32_t>();
    a.atime_ns = in->Num<int64_t>();
    a.rdev = in->Num<uint64_t>();
    a.link = in->Num<uint64_t>();
    const uint32_t n = in->Num<uint32_t>();
    if (n > kMaxXattrs) return false;
    for (uint32_t i = 0; i < n && in->ok; ++i) {
      std::string name = in->Str();
      a.xattrs[std::move(name)] = in->Str();
    }
  }
  return in->ok;
}

}  // namespace

std::string EncodeLoggedCommit(const LoggedCommit& c) {
  const CommitRequest& r = c.req;
  std::string out;
  PutLE<uint64_t>(&out, c.seq);
  PutString(&out, r.branch);
  out.push_back(r.step ? 1 : 0);
  PutLE<int64_t>(&out, r.step.value_or(0));
  PutLE<int64_t>(&out, r.time_ns);
  out.push_back(r.durable ? 1 : 0);
  PutLE<uint32_t>(&out, uint32_t(r.edits.size()));
  for (size_t i = 0; i < r.edits.size(); ++i) {
    const TreeEdit& e = r.edits[i];
    out.push_back(char(e.op));
    PutString(&out, e.path);
    PutString(&out, e.from);
    PutLE<uint32_t>(&out, e.mode);
    PutLE<int64_t>(&out, e.mtime_ns);
    PutLE<uint32_t>(&out, e.extent);
    PutLE<uint64_t>(&out, e.length);
    const VersionId v = e.extent != 0 && i < r.version_ids.size() ? r.version_ids[i] : e.existing;
    v.AppendTo(&out);
  }
  const bool tail = std::any_of(r.edits.begin(), r.edits.end(), [](const TreeEdit& e) {
    return e.op == TreeEdit::Op::kPutSpecial || !e.attrs.IsDefault();
  });
  if (tail) PutAttrsTail(&out, r.edits);
  return out;
}

bool DecodeLoggedCommit(std::string_view payload, LoggedCommit* c) {
  Reader in{payload};
  CommitRequest& r = c->req;
  c->seq = in.Num<uint64_t>();
  r.branch = in.Str();
  const bool has_step = in.Num<uint8_t>() != 0;
  const int64_t step = in.Num<int64_t>();
  if (has_step) r.step = step;
  r.time_ns = in.Num<int64_t>();
  r.durable = in.Num<uint8_t>() != 0;
  const uint32_t n = in.Num<uint32_t>();
  if (!in.ok || n > payload.size()) return false;
  r.edits.clear();
  r.version_ids.assign(n, VersionId{});
  for (uint32_t i = 0; i < n && in.ok; ++i) {
    TreeEdit e;
    const uint8_t op = in.Num<uint8_t>();
    if (op > uint8_t(TreeEdit::Op::kPutSpecial)) return false;
    e.op = TreeEdit::Op(op);
    e.path = in.Str();
    e.from = in.Str();
    e.mode = in.Num<uint32_t>();
    e.mtime_ns = in.Num<int64_t>();
    e.extent = in.Num<uint32_t>();
    e.length = in.Num<uint64_t>();
    const VersionId v = in.Id();
    if (e.extent != 0) r.version_ids[i] = v;
    else e.existing = v;
    r.edits.push_back(std::move(e));
  }
  if (in.ok && !in.in.empty() && !ReadAttrsTail(&in, &r.edits)) return false;
  return in.ok && in.in.empty();
}

std::string LogMetaKey(const std::string& id) { return "journal/" + id; }

Result<std::unique_ptr<CommitLog>> CommitLog::Create(const std::string& store_dir) {
  const std::string dir = store_dir + "/journal";
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno(errno, "create " + dir);
  std::random_device rd;
  std::unique_ptr<CommitLog> log(new CommitLog());
  for (int attempt = 0;; ++attempt) {
    char id[17];
    snprintf(id, sizeof(id), "%08x%08x", rd(), rd());
    log->id_ = id;
    log->path_ = dir + "/" + log->id_ + kSuffix;
    log->fd_ = open(log->path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (log->fd_ >= 0) break;
    if (errno != EEXIST || attempt > 8) return Status::FromErrno(errno, "create " + log->path_);
  }
  if (!Lock(log->fd_, F_WRLCK, F_OFD_SETLK)) return Status::FromErrno(errno, "lock " + log->path_);
  // An opener that replays dead logs may have taken the empty file (and
  // removed it) between its creation and the lock: make another.
  struct stat st;
  if (fstat(log->fd_, &st) != 0) return Status::FromErrno(errno, "stat " + log->path_);
  if (st.st_nlink == 0) return Create(store_dir);
  return log;
}

CommitLog::~CommitLog() {
  if (fd_ >= 0) close(fd_);
}

Status CommitLog::Append(const LoggedCommit& c) {
  const std::string payload = EncodeLoggedCommit(c);
  std::string rec;
  rec.reserve(kHeader + payload.size());
  PutLE<uint32_t>(&rec, uint32_t(payload.size()));
  PutLE<uint64_t>(&rec, Hash64(payload, 0));
  rec.append(payload);
  std::lock_guard<std::mutex> lock(mu_);
  if (!broken_.ok()) return broken_;
  for (size_t done = 0; done < rec.size();) {
    ssize_t w = write(fd_, rec.data() + done, rec.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      int err = errno;
      // A partial record would hide every later one: cut it off, or take
      // no more records.
      if (ftruncate(fd_, off_t(size_)) != 0)
        broken_ = Status::FromErrno(errno, "cut a torn record off " + path_ + " (no more commits are logged)");
      return Status::FromErrno(err, "write " + path_);
    }
    done += size_t(w);
  }
  size_ += rec.size();
  return Status::Ok();
}

uint64_t CommitLog::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return size_;
}

Status CommitLog::CutIfOver(uint64_t over) {
  std::lock_guard<std::mutex> lock(mu_);
  if (size_ <= over) return Status::Ok();
  if (ftruncate(fd_, 0) != 0) return Status::FromErrno(errno, "truncate " + path_);
  size_ = 0;
  return Status::Ok();
}

Status CommitLog::Remove() {
  std::lock_guard<std::mutex> lock(mu_);
  if (unlink(path_.c_str()) != 0 && errno != ENOENT) return Status::FromErrno(errno, "remove " + path_);
  return Status::Ok();
}

Result<std::vector<FoundLog>> ListLogs(const std::string& store_dir) {
  const std::string dir = store_dir + "/journal";
  std::vector<FoundLog> out;
  DIR* d = opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return out;
    return Status::FromErrno(errno, "list " + dir);
  }
  while (struct dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() != 16 + sizeof(kSuffix) - 1 || name.compare(16, std::string::npos, kSuffix) != 0) continue;
    out.push_back(FoundLog{name.substr(0, 16), dir + "/" + name});
  }
  closedir(d);
  return out;
}

Result<std::vector<LoggedCommit>> ReadLog(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno(errno, "open " + path);
  std::string data;
  char buf[1 << 16];
  for (;;) {
    ssize_t r = read(fd, buf, sizeof(buf));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int err = errno;
      close(fd);
      return Status::FromErrno(err, "read " + path);
    }
    if (r == 0) break;
    data.append(buf, size_t(r));
  }
  close(fd);
  std::vector<LoggedCommit> out;
  size_t at = 0;
  while (data.size() - at >= kHeader) {
    const uint32_t n = LoadLE<uint32_t>(data.data() + at);
    const uint64_t sum = LoadLE<uint64_t>(data.data() + at + 4);
    if (n > kMaxPayload || data.size() - at - kHeader < n) break;  // torn
    std::string_view payload(data.data() + at + kHeader, n);
    LoggedCommit c;
    if (Hash64(payload, 0) != sum || !DecodeLoggedCommit(payload, &c)) break;  // damaged
    out.push_back(std::move(c));
    at += kHeader + n;
  }
  return out;
}

bool LogIsLive(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  const bool live = fcntl(fd, F_OFD_GETLK, &fl) != 0 || fl.l_type != F_UNLCK;
  close(fd);
  return live;
}

int LockDeadLog(const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  if (!Lock(fd, F_WRLCK, F_OFD_SETLK)) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace ciuicfs
