// File data: open/read/write/flush/fsync for live files (streaming ingest
// or a staging file) and for the read-only @ trees; commits on close.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "fs/errno_map.h"
#include "fs/filesystem.h"
#include "fs/node.h"
#include "store/store.h"

namespace ciuicfs {
namespace {

constexpr size_t kCopyPiece = 1 << 20;

Status CopyVersionTo(VersionReader* reader, int fd, const std::string& path) {
  std::string buf(kCopyPiece, '\0');
  for (uint64_t off = 0; off < reader->size();) {
    auto n = reader->Read(off, buf.size(), buf.data());
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    if (pwrite(fd, buf.data(), *n, static_cast<off_t>(off)) != static_cast<ssize_t>(*n))
      return Status::FromErrno(errno, "write " + path);
    off += *n;
  }
  return Status::Ok();
}

}  // namespace

Status Filesystem::EnsureStaging(Node& n) {
  if (n.write && n.write->staging()) return Status::Ok();
  static std::atomic<uint64_t> counter{0};
  auto st = std::make_unique<WriteState>();
  st->staging_path = staging_dir_ + "/" + std::to_string(n.ino) + "-" + std::to_string(counter++);
  st->fd = open(st->staging_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (st->fd < 0) return Status::FromErrno(errno, "create " + st->staging_path);
  if (n.write) {  // streaming so far: the streamed prefix becomes the staging content
    auto pending = n.write->ingest->Finish();
    if (!pending.ok()) return pending.status();
    auto reader = store_->OpenPending(*pending);
    CIUIC_RETURN_IF_ERROR(CopyVersionTo(reader.get(), st->fd, st->staging_path));
    st->staged_size = pending->size();
    st->dirty = n.write->dirty;
  } else {
    VersionId committed;
    uint64_t size;
    {
      std::lock_guard<std::mutex> lock(mu_);
      committed = n.committed;
      size = n.committed_size;
    }
    if (size > 0) {
      auto reader = store_->OpenVersion(committed);
      if (!reader.ok()) return reader.status();
      CIUIC_RETURN_IF_ERROR(CopyVersionTo(reader->get(), st->fd, st->staging_path));
    }
    st->staged_size = size;
  }
  n.write = std::move(st);
  return Status::Ok();
}

Status Filesystem::TruncateLive(Node& n, uint64_t size) {
  if (size == 0) {
    n.write = std::make_unique<WriteState>();
    n.write->ingest = store_->NewIngest();
  } else {
    CIUIC_RETURN_IF_ERROR(EnsureStaging(n));
    if (ftruncate(n.write->fd, static_cast<off_t>(size)) != 0)
      return Status::FromErrno(errno, "truncate " + n.write->staging_path);
    n.write->staged_size = size;
  }
  n.write->dirty = true;
  std::lock_guard<std::mutex> lock(mu_);
  n.size = size;
  return Status::Ok();
}

Status Filesystem::WriteAt(Node& n, const char* buf, size_t size, uint64_t off) {
  if (!n.write) {
    std::lock_guard<std::mutex> lock(mu_);
    if (off == 0 && n.committed_size == 0) {  // a fresh file: stream it
      n.write = std::make_unique<WriteState>();
      n.write->ingest = store_->NewIngest();
    }
  }
  if (n.write && !n.write->staging() && off == n.write->streamed) {
    CIUIC_RETURN_IF_ERROR(n.write->ingest->Append(buf, size));
    n.write->streamed += size;
  } else {
    CIUIC_RETURN_IF_ERROR(EnsureStaging(n));
    for (size_t done = 0; done < size;) {
      ssize_t w = pwrite(n.write->fd, buf + done, size - done, static_cast<off_t>(off + done));
      if (w < 0) return Status::FromErrno(errno, "write " + n.write->staging_path);
      done += static_cast<size_t>(w);
    }
    n.write->staged_size = std::max<uint64_t>(n.write->staged_size, off + size);
  }
  n.write->dirty = true;
  std::lock_guard<std::mutex> lock(mu_);
  n.size = n.write->staging() ? n.write->staged_size : n.write->streamed;
  n.mtime_ns = n.ctime_ns = NowNs();
  return Status::Ok();
}

Result<size_t> Filesystem::ReadLive(Node& n, FileHandle& fh, char* buf, size_t size, uint64_t off) {
  if (n.write) {
    if (!n.write->staging()) {
      if (n.write->streamed == 0 || off >= n.write->streamed) return size_t{0};
      CIUIC_RETURN_IF_ERROR(EnsureStaging(n));  // reading while writing: switch to staging
    }
    ssize_t r = pread(n.write->fd, buf, size, static_cast<off_t>(off));
    if (r < 0) return Status::FromErrno(errno, "read " + n.write->staging_path);
    return static_cast<size_t>(r);
  }
  VersionId committed;
  {
    std::lock_guard<std::mutex> lock(mu_);
    committed = n.committed;
    if (n.committed_size == 0) return size_t{0};
  }
  if (!fh.reader || fh.reader_version != committed) {
    auto reader = store_->OpenVersion(committed);
    if (!reader.ok()) return reader.status();
    fh.reader = std::move(reader.value());
    fh.reader_version = committed;
  }
  return fh.reader->Read(off, size, buf);
}

Status Filesystem::CommitContent(const NodePtr& n, bool durable) {
  std::lock_guard<std::mutex> data(n->data_mu);
  if (!n->write || !n->write->dirty) return Status::Ok();
  std::unique_ptr<WriteState> st = std::move(n->write);
  Result<PendingVersion> pending = Status::Ok();
  if (st->staging()) {
    auto ingest = store_->NewIngest();
    std::string buf(kCopyPiece, '\0');
    for (uint64_t off = 0; off < st->staged_size;) {
      ssize_t r = pread(st->fd, buf.data(), std::min<uint64_t>(buf.size(), st->staged_size - off), off_t(off));
      if (r <= 0) return r < 0 ? Status::FromErrno(errno, "read " + st->staging_path) : Status::IOError("short staging file");
      CIUIC_RETURN_IF_ERROR(ingest->Append(buf.data(), size_t(r)));
      off += uint64_t(r);
    }
    pending = ingest->Finish();
  } else {
    pending = st->ingest->Finish();
  }
  if (!pending.ok()) return pending.status();
  std::lock_guard<std::mutex> lock(mu_);
  if (n->unlinked) return Status::Ok();  // deleted before it was closed: no version
  const std::string path = PathOf(*n);
  std::optional<int64_t> step;
  auto x = n->xattrs.find("user.ciuic.step");
  if (x != n->xattrs.end()) step = StepParser::FromXattr(x->second);
  if (!step) step = options_.step_parser->FromPath(path);
  auto snap = CommitEdits({TreeEdit::PutFile(path, n->mode, n->mtime_ns, &*pending)}, step, durable);
  if (!snap.ok()) return snap.status();
  n->committed = pending->id();
  n->committed_size = pending->size();
  n->size = pending->size();
  n->in_tree = true;
  return Status::Ok();
}

void Filesystem::Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  NodePtr n;
  const bool writable = (fi->flags & O_ACCMODE) != O_RDONLY;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n = Get(ino);
    if (!n) return (void)fuse_reply_err(req, ENOENT);
    if (n->kind == kLiveDir || n->kind == kSnapDir || n->kind == kHistory) return (void)fuse_reply_err(req, EISDIR);
    if (writable && n->kind == kSnapFile) return (void)fuse_reply_err(req, EROFS);
    if (writable && n->stale) return (void)fuse_reply_err(req, ESTALE);  // its tree is gone: writes would be lost
    if (writable) ++writers_;  // under mu_: a switch or rollback sees it (ReplaceLiveTree)
  }
  // From here on a writable open that fails gives its count back.
  struct Undo {
    Filesystem* fs;
    bool armed;
    ~Undo() {
      if (armed) --fs->writers_;
    }
  } undo{this, writable};
  auto fh = std::make_unique<FileHandle>();
  fh->node = n;
  fh->writable = writable;
  if (n->kind == kSnapFile) {
    if (writable || (fi->flags & O_TRUNC)) return (void)fuse_reply_err(req, EROFS);
    auto reader = store_->OpenVersion(n->entry.version);
    if (!reader.ok()) return (void)fuse_reply_err(req, StatusToErrno(reader.status()));
    fh->reader = std::move(reader.value());
    fi->keep_cache = 1;  // immutable: the page cache stays valid forever
  } else if (writable && (fi->flags & O_TRUNC)) {
    std::lock_guard<std::mutex> data(n->data_mu);
    Status s = TruncateLive(*n, 0);
    if (!s.ok()) return (void)fuse_reply_err(req, StatusToErrno(s));
  }
  undo.armed = false;  // Release gives it back
  fi->fh = reinterpret_cast<uint64_t>(fh.release());
  fuse_reply_open(req, fi);
}

void Filesystem::Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  auto* fh = reinterpret_cast<FileHandle*>(fi->fh);
  std::string buf(size, '\0');
  Result<size_t> n = size_t{0};
  if (fh->node->kind == kSnapFile) {
    std::lock_guard<std::mutex> lock(fh->reader_mu);
    n = fh->reader->Read(static_cast<uint64_t>(off), size, buf.data());
  } else {
    std::lock_guard<std::mutex> data(fh->node->data_mu);
    n = ReadLive(*fh->node, *fh, buf.data(), size, static_cast<uint64_t>(off));
  }
  if (!n.ok()) {
    LogLine("read of inode " + std::to_string(ino) + " failed: " + n.status().message());
    return (void)fuse_reply_err(req, StatusToErrno(n.status()));
  }
  fuse_reply_buf(req, buf.data(), *n);
}

void Filesystem::Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  auto* fh = reinterpret_cast<FileHandle*>(fi->fh);
  if (fh->node->kind != kLiveFile) return (void)fuse_reply_err(req, EROFS);
  Status s;
  {
    std::lock_guard<std::mutex> data(fh->node->data_mu);
    s = WriteAt(*fh->node, buf, size, static_cast<uint64_t>(off));
  }
  if (!s.ok()) return (void)fuse_reply_err(req, StatusToErrno(s));
  fuse_reply_write(req, size);
}

// close() waits for FLUSH, not RELEASE: the version must be committed here.
void Filesystem::Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto* fh = reinterpret_cast<FileHandle*>(fi->fh);
  Status s;
  if (fh->writable && fh->node->kind == kLiveFile) s = CommitContent(fh->node, false);
  if (!s.ok()) LogLine("commit of inode " + std::to_string(ino) + " failed: " + s.message());
  fuse_reply_err(req, StatusToErrno(s));
}

void Filesystem::Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  auto* fh = reinterpret_cast<FileHandle*>(fi->fh);
  if (fh->writable) --writers_;
  delete fh;
  fuse_reply_err(req, 0);
}

void Filesystem::Fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  auto* fh = reinterpret_cast<FileHandle*>(fi->fh);
  Status s;
  bool committed_now = false;
  if (fh->writable && fh->node->kind == kLiveFile) {
    std::lock_guard<std::mutex> data(fh->node->data_mu);
    committed_now = fh->node->write && fh->node->write->dirty;
  }
  if (committed_now) s = CommitContent(fh->node, true);
  else s = store_->Sync();
  fuse_reply_err(req, StatusToErrno(s));
}

}  // namespace ciuicfs
