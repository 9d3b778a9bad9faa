// Live entries that hold no file data: symlinks (their target stored as
// the content of a version), FIFOs, devices and sockets (no content; a
// device's number is an attribute), and hard links, store/FORMAT.md
// "Nodes". Each is one snapshot at once, as mkdir is.
#include <limits.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <random>

#include "fs/errno_map.h"
#include "fs/filesystem.h"
#include "fs/node.h"
#include "store/store.h"

namespace ciuicfs {
// A symlink is one snapshot at once, as mkdir is: its target is stored as
// the content of a version (store/FORMAT.md, "Nodes").
void Filesystem::Symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) {
  const size_t len = std::strlen(target);
  if (len == 0) return (void)fuse_reply_err(req, ENOENT);
  if (len >= PATH_MAX) return (void)fuse_reply_err(req, ENAMETOOLONG);
  // The target's version first, outside mu_ (on RADOS it is a pack write);
  // a refused name drops it again, unreferenced.
  auto ingest = store_->NewIngest();
  Status s = ingest->Append(target, len);
  auto version = s.ok() ? ingest->Finish() : Result<PendingVersion>(s);
  if (!version.ok()) return (void)fuse_reply_err(req, StatusToErrno(version.status()));
  std::lock_guard<std::mutex> lock(mu_);
  NodePtr dir = Get(parent);
  if (int err = CheckNewName(dir, parent, name)) return (void)fuse_reply_err(req, err);
  const int64_t now = NowNs();
  const std::string path = Join(PathOf(*dir), name);
  // Straight into the index: a fresh ingest cannot go through the log.
  TreeEdit edit = TreeEdit::PutSymlink(path, now, &*version);
  edit.attrs = NewAttrs(req);
  auto snap = CommitEdits({std::move(edit)}, std::nullopt, false, false);
  if (!snap.ok()) return (void)fuse_reply_err(req, StatusToErrno(snap.status()));
  NodePtr n = AddLiveNode(req, dir.get(), name, kLiveLink, 0777, now);
  n->in_tree = true;
  n->link_target = target;
  n->size = n->committed_size = len;
  n->committed = version->id();
  ReplyEntry(req, n, kLiveTimeout);
}

void Filesystem::Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  EntryKind kind;
  switch (mode & S_IFMT) {
    case S_IFREG: kind = EntryKind::kFile; break;
    case S_IFIFO: kind = EntryKind::kFifo; break;
    case S_IFCHR: kind = EntryKind::kCharDevice; break;
    case S_IFBLK: kind = EntryKind::kBlockDevice; break;
    case S_IFSOCK: kind = EntryKind::kSocket; break;
    default: return (void)fuse_reply_err(req, EINVAL);
  }
  std::lock_guard<std::mutex> lock(mu_);
  NodePtr dir = Get(parent);
  if (int err = CheckNewName(dir, parent, name)) return (void)fuse_reply_err(req, err);
  const int64_t now = NowNs();
  const std::string path = Join(PathOf(*dir), name);
  // A regular file made by mknod is an empty version, straight into the
  // index (a fresh ingest cannot go through the log).
  std::optional<PendingVersion> empty;
  std::unique_ptr<IngestSession> ingest;
  TreeEdit edit = TreeEdit::PutSpecial(path, kind, mode & 07777, now);
  if (kind == EntryKind::kFile) {
    ingest = store_->NewIngest();
    auto version = ingest->Finish();
    if (!version.ok()) return (void)fuse_reply_err(req, StatusToErrno(version.status()));
    empty.emplace(std::move(version.value()));
    edit = TreeEdit::PutFile(path, mode & 07777, now, &*empty);
  }
  edit.attrs = NewAttrs(req);
  if (kind == EntryKind::kCharDevice || kind == EntryKind::kBlockDevice) edit.attrs.rdev = rdev;
  auto snap = CommitEdits({edit}, std::nullopt, false, !empty);
  if (!snap.ok()) return (void)fuse_reply_err(req, StatusToErrno(snap.status()));
  NodePtr n = AddLiveNode(req, dir.get(), name, kind == EntryKind::kFile ? kLiveFile : kLiveSpecial, mode, now);
  n->in_tree = true;
  n->special = kind;
  n->attrs = edit.attrs;
  if (empty) n->committed = empty->id();
  ReplyEntry(req, n, kLiveTimeout);
}

// A hard link: one node, one more name. Every name of it is an entry of
// the tree naming the same version, with the same nonzero link attribute
// (store/FORMAT.md, "Nodes"); the link and every later change of the file
// commit all its names at once.
void Filesystem::Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  NodePtr n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n = Get(ino);
  }
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  // The link attribute is set below: a file's commits read its attributes
  // holding data_mu alone (data_mu before mu_).
  std::unique_lock<std::mutex> data(n->data_mu, std::defer_lock);
  if (n->kind == kLiveFile) data.lock();
  std::lock_guard<std::mutex> lock(mu_);
  if (!IsLive(n->kind)) return (void)fuse_reply_err(req, EROFS);
  if (n->kind == kLiveDir) return (void)fuse_reply_err(req, EPERM);
  if (n->stale) return (void)fuse_reply_err(req, ESTALE);
  if (n->unlinked) return (void)fuse_reply_err(req, ENOENT);
  NodePtr dir = Get(newparent);
  if (int err = CheckNewName(dir, newparent, newname)) return (void)fuse_reply_err(req, err);
  EntryAttrs attrs = n->attrs;
  while (attrs.link == 0) attrs.link = std::random_device{}() | (uint64_t(std::random_device{}()) << 32);
  const std::string path = Join(PathOf(*dir), newname);
  // A file not committed yet gets all its names at its first commit.
  if (n->in_tree) {
    std::vector<TreeEdit> edits = EntryEdits(*n, n->mode, n->mtime_ns, attrs);
    TreeEdit added = edits.front();
    added.path = path;
    edits.push_back(std::move(added));
    auto snap = CommitEdits(std::move(edits), std::nullopt, false);
    if (!snap.ok()) return (void)fuse_reply_err(req, StatusToErrno(snap.status()));
  }
  n->attrs = attrs;
  n->other_names.emplace_back(dir.get(), newname);
  dir->children[newname] = n->ino;
  dir->mtime_ns = dir->ctime_ns = n->ctime_ns = NowNs();
  ReplyEntry(req, n, kLiveTimeout);
}

void Filesystem::Readlink(fuse_req_t req, fuse_ino_t ino) {
  VersionId version;
  {
    std::lock_guard<std::mutex> lock(mu_);
    NodePtr n = Get(ino);
    if (!n) return (void)fuse_reply_err(req, ENOENT);
    if (n->kind == kLiveLink && !n->link_target.empty()) return (void)fuse_reply_readlink(req, n->link_target.c_str());
    if (n->kind == kLiveLink) version = n->committed;
    else if (n->kind == kSnapFile && n->entry.kind == EntryKind::kSymlink) version = n->entry.version;
    else return (void)fuse_reply_err(req, EINVAL);
  }
  // Read outside mu_: a target is a few bytes, but the store may be remote.
  auto reader = store_->OpenVersion(version);
  if (!reader.ok()) return (void)fuse_reply_err(req, StatusToErrno(reader.status()));
  std::string target((*reader)->size(), '\0');
  for (size_t done = 0; done < target.size();) {
    auto got = (*reader)->Read(done, target.size() - done, target.data() + done);
    if (!got.ok()) return (void)fuse_reply_err(req, StatusToErrno(got.status()));
    if (*got == 0) return (void)fuse_reply_err(req, EIO);
    done += *got;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (NodePtr n = Get(ino); n && n->kind == kLiveLink && n->committed == version) n->link_target = target;
  }
  fuse_reply_readlink(req, target.c_str());
}

}  // namespace ciuicfs
