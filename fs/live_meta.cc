// Metadata of live entries: setattr (size, mode, owner, times) and the
// one way a metadata change reaches the store, a snapshot of the entry at
// each of its paths (CommitMetadata; xattrs use it too, xattr_statfs.cc).
#include <sys/stat.h>

#include <cerrno>
#include <optional>

#include "fs/errno_map.h"
#include "fs/filesystem.h"
#include "fs/node.h"
#include "store/store.h"

namespace ciuicfs {

void Filesystem::Setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  NodePtr n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n = Get(ino);
  }
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  if (!IsLive(n->kind)) return (void)fuse_reply_err(req, EROFS);
  if (to_set & FUSE_SET_ATTR_SIZE) {
    if (n->kind != kLiveFile) return (void)fuse_reply_err(req, EISDIR);
    if (n->stale) return (void)fuse_reply_err(req, ESTALE);
    {
      std::lock_guard<std::mutex> data(n->data_mu);
      // The kernel says whether the caller keeps set-ID bits (it sends
      // FATTR_KILL_SUIDGID, which libfuse names FUSE_SET_ATTR_KILL_SUID).
      SetIdCaller caller = CallerOf(req);
      caller.privileged = !(to_set & FUSE_SET_ATTR_KILL_SUID);
      Status s = TruncateLive(*n, static_cast<uint64_t>(attr->st_size), caller);
      if (!s.ok()) return (void)fuse_reply_err(req, StatusToErrno(s));
    }
    // truncate(2) by path, no handle open for writing: nothing else would
    // commit it, so it is a save of its own, as a close would be.
    auto* fh = fi ? reinterpret_cast<FileHandle*>(fi->fh) : nullptr;
    if (!fh || !fh->writable) {
      Status s = CommitContent(n, false);
      if (!s.ok()) return (void)fuse_reply_err(req, StatusToErrno(s));
    }
  }
  // A change of mode, owner or times is a snapshot of its own, like a
  // close (data_mu before mu_: a file's write state is updated too, and a
  // file's commits read its mode and attributes holding data_mu alone).
  const int meta_bits = FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID | FUSE_SET_ATTR_ATIME |
                        FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW;
  const bool meta = to_set & meta_bits;
  std::unique_lock<std::mutex> data(n->data_mu, std::defer_lock);
  if (n->kind == kLiveFile) data.lock();
  std::unique_lock<std::mutex> lock(mu_);
  uint32_t mode = n->mode;
  int64_t mtime = n->mtime_ns;
  EntryAttrs attrs = n->attrs;
  const int64_t now = NowNs();
  auto ns = [](const struct timespec& t) { return int64_t(t.tv_sec) * 1000000000 + t.tv_nsec; };
  if (to_set & FUSE_SET_ATTR_MODE) mode = attr->st_mode & 07777;
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) mtime = now;
  else if (to_set & FUSE_SET_ATTR_MTIME) mtime = ns(attr->st_mtim);
  // A chown drops set-ID bits and the file capability whoever makes it
  // (judged by the group the file had).
  if (killpriv_ && (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) && n->kind != kLiveDir)
    DropSetId(SetIdChange::kChown, CallerOf(req), &mode, &attrs);
  if (to_set & FUSE_SET_ATTR_UID) attrs.uid = attr->st_uid;
  if (to_set & FUSE_SET_ATTR_GID) attrs.gid = attr->st_gid;
  // Unless set, the atime is the mtime (no read or write moves it apart).
  int64_t atime = attrs.atime_ns != 0 ? attrs.atime_ns : n->mtime_ns;
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) atime = now;
  else if (to_set & FUSE_SET_ATTR_ATIME) atime = ns(attr->st_atim);
  attrs.atime_ns = atime == mtime ? 0 : atime;
  if (n->kind == kLiveLink) mode = n->mode;  // a symlink has no mode of its own
  if (meta && (mode != n->mode || mtime != n->mtime_ns || !(attrs == n->attrs))) {
    Status s = CommitMetadata(*n, mode, mtime, attrs, std::nullopt);
    if (!s.ok()) return (void)fuse_reply_err(req, StatusToErrno(s));
  }
  // A file the kernel writes takes its mtime from its extent at the next
  // commit (the later of the two): the extent gets the time set here too.
  if ((to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) && n->kind == kLiveFile && n->write &&
      n->write->backing_id > 0) {
    struct timespec ts[2] = {{0, UTIME_OMIT}, {time_t(mtime / 1000000000), long(mtime % 1000000000)}};
    if (futimens(n->write->extent->fd(), ts) != 0) return (void)fuse_reply_err(req, errno);
  }
  n->mode = mode;
  n->mtime_ns = mtime;
  n->attrs = attrs;
  if (to_set & FUSE_SET_ATTR_SIZE) n->mtime_ns = now;
  n->ctime_ns = now;
  struct stat st = StatOf(*n);
  lock.unlock();
  if (data.owns_lock()) data.unlock();
  fuse_reply_attr(req, &st, kLiveTimeout);
}

std::vector<TreeEdit> Filesystem::EntryEdits(const Node& n, uint32_t mode, int64_t mtime,
                                             const EntryAttrs& attrs) const {
  const EntryKind kind = n.kind == kLiveDir    ? EntryKind::kDirectory
                         : n.kind == kLiveLink   ? EntryKind::kSymlink
                         : n.kind == kLiveSpecial ? n.special
                                                  : EntryKind::kFile;
  std::vector<TreeEdit> edits;
  for (const std::string& path : PathsOf(n))
    edits.push_back(TreeEdit::PutEntry(TreeEntry{path, kind, mode, 0, mtime, n.committed, attrs}));
  return edits;
}

// A metadata change of live node `n` as one snapshot of its own, so it is
// in the store when the call returns; nothing for the root (no entry), a
// stale node or one not committed yet (its first commit carries it). A
// file being written keeps its committed content in that snapshot, and
// its write state takes the new metadata as committed (mu_ held, and
// data_mu for a file).
Status Filesystem::CommitMetadata(Node& n, uint32_t mode, int64_t mtime, const EntryAttrs& attrs,
                                  std::optional<int64_t> step) {
  if (n.ino == FUSE_ROOT_ID || !n.in_tree || n.stale) return Status::Ok();
  auto snap = CommitEdits(EntryEdits(n, mode, mtime, attrs), step, false);
  if (!snap.ok()) return snap.status();
  if (n.kind == kLiveFile && n.write) {
    n.write->committed_mode = mode;
    n.write->committed_attrs = attrs;
  }
  return Status::Ok();
}

}  // namespace ciuicfs
