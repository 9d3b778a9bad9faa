// File data: open/read/write/flush/fsync/release for live files and the
// read-only @ trees. A live file being written has its content in an
// extent of the store (fs/README.md, "How a save becomes a version"): the
// daemon writes it, or the kernel does through FUSE passthrough
// (live_backing.cc), and a close commits it as it is.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>

#include "fs/errno_map.h"
#include "fs/filesystem.h"
#include "fs/node.h"
#include "store/base/log.h"
#include "store/store.h"

namespace ciuicfs {
namespace {

constexpr size_t kCopyPiece = 1 << 20;

// Copies `size` bytes of `from` (a version) into `fd` from offset 0: in the
// kernel when the version is still in an extent, else read and written.
Status CopyVersionTo(VersionReader* reader, int fd, const std::string& name) {
  if (reader->extent()) {
    loff_t in = 0, out = 0;
    while (static_cast<uint64_t>(in) < reader->size()) {
      ssize_t n = copy_file_range(reader->extent()->get(), &in, fd, &out, reader->size() - uint64_t(in), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP)) break;  // copy by hand below
      if (n < 0) return Status::FromErrno(errno, "copy into " + name);
      if (n == 0) return Status::Corruption("the extent of version " + reader->manifest().id.Hex() + " is short (lost)");
    }
    if (static_cast<uint64_t>(in) >= reader->size()) return Status::Ok();
  }
  std::string buf(kCopyPiece, '\0');
  for (uint64_t off = 0; off < reader->size();) {
    auto n = reader->Read(off, buf.size(), buf.data());
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    if (pwrite(fd, buf.data(), *n, static_cast<off_t>(off)) != static_cast<ssize_t>(*n))
      return Status::FromErrno(errno, "write " + name);
    off += *n;
  }
  return Status::Ok();
}

Result<struct stat> StatFd(int fd, const std::string& name) {
  struct stat st;
  if (fstat(fd, &st) != 0) return Status::FromErrno(errno, "stat " + name);
  return st;
}

int64_t MtimeNs(const struct stat& st) { return int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec; }

}  // namespace

Status Filesystem::EnsureExtent(Node& n) {
  if (n.write) return Status::Ok();
  auto extent = store_->NewExtent();
  if (!extent.ok()) return extent.status();
  auto st = std::make_unique<WriteState>();
  st->extent = std::move(extent.value());
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
    CIUIC_RETURN_IF_ERROR(CopyVersionTo(reader->get(), st->extent->fd(), st->extent->path()));
  }
  st->size = size;
  n.write = std::move(st);
  return Status::Ok();
}

// The content as opened: with passthrough, the kernel's writes are told
// apart from it by the extent's size and mtime (an open that writes
// nothing commits nothing).
Status Filesystem::NoteOpenedContent(Node& n) {
  WriteState* ws = n.write.get();
  auto st = StatFd(ws->extent->fd(), ws->extent->path());
  if (!st.ok()) return st.status();
  ws->committed = true;  // what it holds is the committed content, not a new version
  ws->dirty = false;
  ws->committed_size = uint64_t(st->st_size);
  ws->committed_mtime = MtimeNs(*st);
  ws->committed_mode = n.mode;  // Setattr and setxattr change a file's metadata holding data_mu too
  ws->committed_attrs = n.attrs;
  return Status::Ok();
}

bool Filesystem::Privileged(fuse_req_t req) { return fuse_req_ctx(req)->uid == 0; }

SetIdCaller Filesystem::CallerOf(fuse_req_t req) {
  SetIdCaller caller;
  caller.privileged = Privileged(req);
  caller.in_group = [req](uint32_t gid) {
    if (fuse_req_ctx(req)->gid == gid) return true;
    gid_t groups[256];
    const int n = fuse_req_getgroups(req, 256, groups);  // from /proc: asked only when it matters
    for (int i = 0; i < std::min(n, 256); ++i)
      if (groups[i] == gid) return true;
    return false;
  };
  return caller;
}

void Filesystem::DropSetIdLocked(Node& n, SetIdChange change, const SetIdCaller& caller) {
  if (killpriv_ && DropSetId(change, caller, &n.mode, &n.attrs)) n.ctime_ns = NowNs();
}

Status Filesystem::TruncateLive(Node& n, uint64_t size, const SetIdCaller& caller) {
  if (n.write && n.write->backing_id > 0 && n.write->committed) {
    // The kernel keeps this extent as the file's backing, and a version
    // names its bytes: they move to a copy first, so it never changes.
    auto copy = store_->NewExtent();
    if (!copy.ok()) return copy.status();
    CIUIC_RETURN_IF_ERROR(store_->MoveExtentVersions(n.write->extent->number(), copy->get()));
    n.write->committed = false;
  }
  if (size == 0 && (!n.write || n.write->backing_id == 0)) {
    auto extent = store_->NewExtent();
    if (!extent.ok()) return extent.status();
    n.write = std::make_unique<WriteState>();
    n.write->extent = std::move(extent.value());
  } else {
    CIUIC_RETURN_IF_ERROR(EnsureExtent(n));
    if (ftruncate(n.write->extent->fd(), static_cast<off_t>(size)) != 0)
      return Status::FromErrno(errno, "truncate " + n.write->extent->path());
  }
  n.write->size = size;
  n.write->dirty = true;
  std::lock_guard<std::mutex> lock(mu_);
  n.size = size;
  DropSetIdLocked(n, SetIdChange::kWrite, caller);  // committed with the content, as a write's
  return Status::Ok();
}

Status Filesystem::WriteAt(Node& n, const char* buf, size_t size, uint64_t off, const SetIdCaller& caller) {
  CIUIC_RETURN_IF_ERROR(EnsureExtent(n));
  const int fd = n.write->extent->fd();
  for (size_t done = 0; done < size;) {
    ssize_t w = pwrite(fd, buf + done, size - done, static_cast<off_t>(off + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Status::FromErrno(errno, "write " + n.write->extent->path());
    done += static_cast<size_t>(w);
  }
  n.write->extent->Touch();
  n.write->size = std::max<uint64_t>(n.write->size, off + size);
  n.write->dirty = true;
  std::lock_guard<std::mutex> lock(mu_);
  n.size = n.write->size;
  n.mtime_ns = n.ctime_ns = NowNs();
  if (CarriesSetId(n.mode, n.attrs)) DropSetIdLocked(n, SetIdChange::kWrite, caller);  // committed with the content
  return Status::Ok();
}

Result<size_t> Filesystem::ReadLive(Node& n, FileHandle& fh, char* buf, size_t size, uint64_t off) {
  if (n.write) {
    ssize_t r = pread(n.write->extent->fd(), buf, size, static_cast<off_t>(off));
    if (r < 0) return Status::FromErrno(errno, "read " + n.write->extent->path());
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
  return CommitContentLocked(n, durable, false);
}

// data_mu held. Without passthrough the write state goes with the commit
// (its extent sealed); with it, it stays until the backing's last release.
Status Filesystem::CommitContentLocked(const NodePtr& n, bool durable, bool releasing, bool* committed) {
  WriteState* ws = n->write.get();
  if (!ws) return Status::Ok();
  const bool kernel_writes = ws->backing_id > 0;
  uint64_t size = ws->size;
  int64_t mtime = 0;
  bool kernel_wrote = false;
  if (kernel_writes) {
    auto st = StatFd(ws->extent->fd(), ws->extent->path());
    if (!st.ok()) return st.status();
    size = uint64_t(st->st_size);
    mtime = MtimeNs(*st);
    kernel_wrote = size != ws->committed_size || mtime != ws->committed_mtime;
    const bool changed = !ws->committed || ws->dirty || kernel_wrote || n->mode != ws->committed_mode ||
                         !(n->attrs == ws->committed_attrs);
    if (!changed) return Status::Ok();
  } else if (!ws->dirty) {
    return Status::Ok();
  }
  // A store on RADOS takes the bytes into pack objects at the commit:
  // done here, before the tree's lock, so other files go on meanwhile.
  std::unique_ptr<PendingVersion> ingested;
  if (store_->on_rados()) {
    auto pv = store_->IngestExtent(ws->extent->number(), size);
    if (!pv.ok()) return pv.status();
    ingested = std::move(pv.value());
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (n->unlinked) {  // deleted before it was closed: no version
    if (!kernel_writes) n->write.reset();
    return Status::Ok();
  }
  const std::string path = PathOf(*n);
  std::optional<int64_t> step;
  auto x = n->attrs.xattrs.find("user.ciuic.step");
  if (x != n->attrs.xattrs.end()) step = StepParser::FromXattr(x->second);
  if (!step) step = options_.step_parser->FromPath(path);
  if (kernel_writes) n->mtime_ns = std::max(n->mtime_ns, mtime);
  // Set-ID bits made while the kernel wrote the file (a chmod after the
  // open) go with what it wrote, as a local disk drops them at the write.
  // (Whether that writer was in the file's group is not known here: taken
  // as in it.)
  if (kernel_wrote) DropSetIdLocked(*n, SetIdChange::kWrite, {!ws->unprivileged_writer, [](uint32_t) { return true; }});
  // Every name of a hard link gets the version (one version: the same
  // extent and length in one commit).
  std::vector<TreeEdit> edits;
  for (const std::string& name : PathsOf(*n)) {
    TreeEdit edit = ingested ? TreeEdit::PutFile(name, n->mode, n->mtime_ns, ingested.get())
                             : TreeEdit::PutExtent(name, n->mode, n->mtime_ns, ws->extent->number(), size);
    edit.attrs = n->attrs;  // an atime equal to the mtime is stored as none (FORMAT.md, "Nodes")
    edits.push_back(std::move(edit));
  }
  auto snap = CommitEdits(std::move(edits), step, durable);
  if (!snap.ok()) return snap.status();
  if (committed) *committed = true;
  // The version's id is the one the commit gave it: the entry at `path`.
  for (const Change& c : snap->changes)
    if (c.path == path && c.kind == ChangeKind::kPut) n->committed = c.version;
  n->committed_size = size;
  n->size = size;
  n->in_tree = true;
  if (kernel_writes) {
    ws->committed = true;
    ws->dirty = false;
    ws->committed_size = size;
    ws->committed_mtime = mtime;
    ws->committed_mode = n->mode;
    ws->committed_attrs = n->attrs;
  } else if (!releasing) {
    n->write.reset();  // sealed: a later write copies the committed content into a new extent
  }
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
    if (n->kind == kLiveLink) return (void)fuse_reply_err(req, ELOOP);  // the kernel follows symlinks itself
    if (n->kind == kLiveSpecial) return (void)fuse_reply_err(req, ENXIO);  // the kernel opens these itself
    if (writable && n->kind == kSnapFile) return (void)fuse_reply_err(req, EROFS);
    if (writable && n->stale) return (void)fuse_reply_err(req, ESTALE);  // its tree is gone: writes would be lost
    if (writable) ++writers_;  // under mu_: a switch or rollback sees it (ReplaceLiveTree)
    if (n->kind == kLiveFile) ++n->open_handles;
  }
  // From here on an open that fails gives its counts back.
  struct Undo {
    Filesystem* fs;
    Node* n;
    bool writable;
    bool armed = true;
    ~Undo() {
      if (!armed) return;
      std::lock_guard<std::mutex> lock(fs->mu_);
      if (writable) --fs->writers_;
      if (n->kind == kLiveFile) --n->open_handles;
    }
  } undo{this, n.get(), writable};
  auto fh = std::make_unique<FileHandle>();
  fh->node = n;
  fh->writable = writable;
  if (n->kind == kSnapFile) {
    if (writable || (fi->flags & O_TRUNC)) return (void)fuse_reply_err(req, EROFS);
    auto reader = store_->OpenVersion(n->entry.version);
    if (!reader.ok()) return (void)fuse_reply_err(req, StatusToErrno(reader.status()));
    fh->reader = std::move(reader.value());
    fi->keep_cache = 1;  // immutable: the page cache stays valid forever
  } else {
    std::lock_guard<std::mutex> data(n->data_mu);
    Status s;
    if (writable && (fi->flags & O_TRUNC)) {
      s = TruncateLive(*n, 0, CallerOf(req));
    } else if (writable && !n->write && CanBack(*n)) {
      // With passthrough the kernel writes the extent itself: it must hold
      // the content from the start.
      s = EnsureExtent(*n);
      if (s.ok()) s = NoteOpenedContent(*n);
    }
    if (!s.ok()) return (void)fuse_reply_err(req, StatusToErrno(s));
    SetupBacking(req, *n, *fh, fi);
    // A reader of an unchanged version keeps the kernel's page cache of the
    // file; the first open after the version changed drops it.
    if (!writable && !fh->backing && !n->write) {
      std::lock_guard<std::mutex> lock(mu_);
      fi->keep_cache = !n->committed.IsZero() && n->committed == n->cached_version;
      n->cached_version = n->committed;
    }
    ChooseDirectIo(*n, *fh, fi);
    // A copy made for a backing the kernel then refused, with nothing
    // written yet: dropped (the first write makes another).
    if (n->write && n->write->backing_id == 0 && !n->write->dirty) n->write.reset();
  }
  undo.armed = false;  // Release gives them back
  fi->fh = reinterpret_cast<uint64_t>(fh.release());
  fuse_reply_open(req, fi);
}

void Filesystem::Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  auto* fh = reinterpret_cast<FileHandle*>(fi->fh);
  std::unique_ptr<char[]> buf(new char[size]);  // not zeroed: only the bytes read go out
  Result<size_t> n = size_t{0};
  if (fh->node->kind == kSnapFile) {
    std::lock_guard<std::mutex> lock(fh->reader_mu);
    n = fh->reader->Read(static_cast<uint64_t>(off), size, buf.get());
  } else {
    std::lock_guard<std::mutex> data(fh->node->data_mu);
    n = ReadLive(*fh->node, *fh, buf.get(), size, static_cast<uint64_t>(off));
  }
  if (!n.ok()) {
    LogLine("read of inode " + std::to_string(ino) + " failed: " + n.status().message());
    return (void)fuse_reply_err(req, StatusToErrno(n.status()));
  }
  fuse_reply_buf(req, buf.get(), *n);
}

void Filesystem::Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info* fi) {
  auto* fh = reinterpret_cast<FileHandle*>(fi->fh);
  if (fh->node->kind != kLiveFile) return (void)fuse_reply_err(req, EROFS);
  Status s;
  {
    std::lock_guard<std::mutex> data(fh->node->data_mu);
    s = WriteAt(*fh->node, buf, size, static_cast<uint64_t>(off), CallerOf(req));
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
  ReleaseBacking(req, fh->node, *fh);
  // Writes through the daemon can come after the handle's last FLUSH: a
  // shared map's pages are written back at munmap, after close(). They
  // are committed here, as the backing's last release commits what the
  // kernel wrote (a no-op when nothing came).
  if (fh->writable && !fh->backing && fh->node->kind == kLiveFile) {
    Status s = CommitContent(fh->node, false);
    if (!s.ok()) LogLine("commit of inode " + std::to_string(ino) + " at release failed: " + s.message());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (fh->writable) --writers_;
    if (fh->node->kind == kLiveFile) --fh->node->open_handles;
    if (fh->direct_writer) --fh->node->direct_writers;
  }
  delete fh;
  fuse_reply_err(req, 0);
}

void Filesystem::Fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  auto* fh = reinterpret_cast<FileHandle*>(fi->fh);
  Status s;
  bool committed = false;
  if (fh->writable && fh->node->kind == kLiveFile) {
    std::lock_guard<std::mutex> data(fh->node->data_mu);
    s = CommitContentLocked(fh->node, true, false, &committed);
  }
  // Nothing new to commit: what was committed is made durable (the
  // extents and packs of earlier commits, and the index).
  if (s.ok() && !committed) s = store_->Sync();
  fuse_reply_err(req, StatusToErrno(s));
}

// fsync of a folder: every namespace and metadata change committed so far
// (each is a snapshot) survives power loss, as on a local disk.
void Filesystem::Fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  fuse_reply_err(req, StatusToErrno(store_->Sync()));
}

}  // namespace ciuicfs
