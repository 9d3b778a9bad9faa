// The live tree: inode table, attributes, namespace operations and xattrs.
// The FUSE wiring and the session's capabilities are in ops_table.cc,
// building and replacing the whole tree in live_tree.cc, file data in
// live_data.cc (and live_backing.cc), the @ namespace in virtual_ns.cc.
#include "fs/filesystem.h"

#include <malloc.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>

#include "fs/errno_map.h"
#include "fs/node.h"
#include "store/store.h"

namespace ciuicfs {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Filesystem::Filesystem(Store* store, MountOptions options)
    : store_(store), options_(std::move(options)) {
  branch_ = options_.branch;
}

Filesystem::~Filesystem() = default;

Filesystem::NodePtr Filesystem::Get(fuse_ino_t ino) {
  auto it = nodes_.find(ino);
  return it == nodes_.end() ? nullptr : it->second;
}

Filesystem::NodePtr Filesystem::NewNode(int kind) {
  auto n = std::make_shared<Node>();
  if (next_ino_ == kUnknownIno) ++next_ino_;
  n->ino = next_ino_++;
  n->kind = kind;
  nodes_[n->ino] = n;
  return n;
}

std::string Filesystem::PathOf(const Node& n) const {
  std::string path;
  for (const Node* p = &n; p && p->parent; p = p->parent) path = path.empty() ? p->name : p->name + "/" + path;
  return path;
}

mode_t FileType(EntryKind kind) {
  switch (kind) {
    case EntryKind::kFile: return S_IFREG;
    case EntryKind::kDirectory: return S_IFDIR;
    case EntryKind::kSymlink: return S_IFLNK;
    case EntryKind::kFifo: return S_IFIFO;
    case EntryKind::kCharDevice: return S_IFCHR;
    case EntryKind::kBlockDevice: return S_IFBLK;
    case EntryKind::kSocket: return S_IFSOCK;
  }
  return S_IFREG;
}

std::string Filesystem::Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

std::vector<std::string> Filesystem::PathsOf(const Node& n) const {
  std::vector<std::string> paths{PathOf(n)};
  for (const auto& [dir, name] : n.other_names) paths.push_back(Join(PathOf(*dir), name));
  return paths;
}

bool Filesystem::DropName(Node& n, Node* dir, const std::string& name) {
  if (n.parent == dir && n.name == name) {
    if (n.other_names.empty()) return false;
    std::tie(n.parent, n.name) = n.other_names.back();
    n.other_names.pop_back();
    return true;
  }
  for (auto it = n.other_names.begin(); it != n.other_names.end(); ++it)
    if (it->first == dir && it->second == name) {
      n.other_names.erase(it);
      return true;
    }
  return true;  // not one of its names: nothing to take
}

mode_t Filesystem::TypeOf(const Node& n) {
  switch (n.kind) {
    case kLiveFile: return S_IFREG;
    case kLiveLink: return S_IFLNK;
    case kLiveSpecial: return FileType(n.special);
    case kSnapFile: return FileType(n.entry.kind);
    default: return S_IFDIR;
  }
}

struct stat Filesystem::StatOf(const Node& n) const {
  struct stat st = {};
  st.st_ino = n.ino;
  st.st_blksize = kBlockSize;
  const EntryAttrs& a = IsLive(n.kind) ? n.attrs : n.entry.attrs;
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  int64_t mtime = n.mtime_ns;
  switch (n.kind) {
    case kLiveDir:
      st.st_mode = S_IFDIR | (n.mode & 07777);
      st.st_nlink = 2;
      break;
    case kLiveFile:
      st.st_mode = S_IFREG | (n.mode & 07777);
      st.st_nlink = n.unlinked ? 0 : 1 + n.other_names.size();
      st.st_size = static_cast<off_t>(n.size);
      if (n.passthrough_fd) {  // the kernel writes it: the extent knows its size
        struct stat b;
        if (fstat(n.passthrough_fd->get(), &b) == 0) {
          st.st_size = b.st_size;
          mtime = std::max<int64_t>(mtime, int64_t(b.st_mtim.tv_sec) * 1000000000 + b.st_mtim.tv_nsec);
        }
      }
      break;
    case kLiveLink:
      st.st_mode = S_IFLNK | 0777;
      st.st_nlink = n.unlinked ? 0 : 1 + n.other_names.size();
      st.st_size = static_cast<off_t>(n.size);
      break;
    case kLiveSpecial:
      st.st_mode = FileType(n.special) | (n.mode & 07777);
      st.st_nlink = n.unlinked ? 0 : 1 + n.other_names.size();
      st.st_rdev = a.rdev;
      break;
    case kHistory:
      st.st_mode = S_IFDIR | 0555;
      mtime = n.mtime_ns;
      st.st_nlink = 2;
      break;
    case kSnapDir:  // read-only all the same (EROFS); the stored mode, so `cp -a` out keeps it
      st.st_mode = S_IFDIR | (n.entry.mode & 01777);  // never setuid or setgid through a snapshot
      st.st_nlink = 2;
      mtime = n.entry.mtime_ns;
      break;
    case kSnapFile:
      st.st_mode = n.entry.kind == EntryKind::kSymlink ? S_IFLNK | 0777
                                                        : FileType(n.entry.kind) | (n.entry.mode & 01777);
      st.st_nlink = 1;
      st.st_size = static_cast<off_t>(n.entry.size);
      st.st_rdev = a.rdev;
      mtime = n.entry.mtime_ns;
      break;
  }
  st.st_blocks = (st.st_size + 511) / 512;
  st.st_mtim.tv_sec = mtime / 1000000000;
  st.st_mtim.tv_nsec = mtime % 1000000000;
  const int64_t atime = a.atime_ns != 0 ? a.atime_ns : mtime;
  st.st_atim.tv_sec = atime / 1000000000;
  st.st_atim.tv_nsec = atime % 1000000000;
  st.st_ctim.tv_sec = (IsLive(n.kind) ? n.ctime_ns : mtime) / 1000000000;
  st.st_ctim.tv_nsec = (IsLive(n.kind) ? n.ctime_ns : mtime) % 1000000000;
  return st;
}

void Filesystem::ReplyEntry(fuse_req_t req, const NodePtr& n, double timeout) {
  ++n->nlookup;  // mu_ held by every caller
  fuse_entry_param e = {};
  e.ino = n->ino;
  e.attr = StatOf(*n);
  e.attr_timeout = IsLive(n->kind) ? kLiveTimeout : kImmutableTimeout;
  e.entry_timeout = timeout;
  // An interrupted request: the kernel took no reference, and sends no FORGET.
  if (fuse_reply_entry(req, &e) == -ENOENT) --n->nlookup;
}

Result<Snapshot> Filesystem::CommitEdits(std::vector<TreeEdit> edits, std::optional<int64_t> step, bool durable,
                                         bool logged) {
  CommitRequest req;
  req.branch = branch();
  req.edits = std::move(edits);
  req.step = step;
  req.durable = durable;
  req.logged = logged;  // close() waits for the commit log, not the index
  return store_->Commit(req);
}

void Filesystem::Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  std::unique_lock<std::mutex> lock(mu_);
  NodePtr dir = Get(parent);
  if (!dir) return (void)fuse_reply_err(req, ENOENT);
  if (std::strlen(name) > kNameMax) return (void)fuse_reply_err(req, ENAMETOOLONG);
  Result<NodePtr> found = Status::NotFound(name);
  double timeout = kImmutableTimeout;
  if (parent == FUSE_ROOT_ID && name[0] == '@') {
    found = LookupVirtualRoot(name, &timeout);
  } else if (dir->kind == kLiveDir) {
    auto it = dir->children.find(name);
    if (it != dir->children.end()) found = Get(it->second);
    timeout = kLiveTimeout;
  } else if (dir->kind != kSnapDir && dir->kind != kHistory) {
    return (void)fuse_reply_err(req, ENOTDIR);
  } else {
    found = LookupInSnap(*dir, name);
  }
  if (!found.ok() || !*found) return (void)fuse_reply_err(req, found.ok() ? ENOENT : StatusToErrno(found.status()));
  ReplyEntry(req, *found, timeout);
}

void Filesystem::Forget(const fuse_forget_data* forgets, size_t count) {
  bool trim = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < count; ++i) {
      const fuse_ino_t ino = forgets[i].ino;
      NodePtr n = Get(ino);
      if (!n || ino == FUSE_ROOT_ID || n == history_) continue;
      n->nlookup = n->nlookup > forgets[i].nlookup ? n->nlookup - forgets[i].nlookup : 0;
      if (n->nlookup != 0) continue;
      // In the live tree it is the tree; left behind by a rollback or a
      // switch its old directory (held open) may still name it.
      if (IsLive(n->kind) && (n->parent || n->stale)) continue;
      if (!IsLive(n->kind)) snap_inodes_.erase(std::make_pair(n->seq, n->entry.path));
      nodes_.erase(ino);  // open handles keep their node alive
      trim |= ++forgotten_ % 16384 == 0;
    }
  }
  // Freed nodes are small and many: give their pages back now and then,
  // outside the table's lock (it walks every arena).
  if (trim) malloc_trim(0);
}

void Filesystem::Getattr(fuse_req_t req, fuse_ino_t ino) {
  std::unique_lock<std::mutex> lock(mu_);
  NodePtr n = Get(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  struct stat st = StatOf(*n);
  lock.unlock();
  fuse_reply_attr(req, &st, IsLive(n->kind) ? kLiveTimeout : kImmutableTimeout);
}

// Why a live entry may not be called `name` in `parent` (an errno), or 0:
// the one rule for create, mkdir and the target of rename.
int Filesystem::NameRule(fuse_ino_t parent, const char* name) {
  if (std::strlen(name) > kNameMax) return ENAMETOOLONG;
  if (parent == FUSE_ROOT_ID && name[0] == '@') return EPERM;  // reserved for the @ namespace
  return 0;
}

bool Filesystem::Detached(const Node& n) {
  return n.kind == kLiveDir && n.ino != FUSE_ROOT_ID && (n.unlinked || !n.parent);
}

// Why `name` cannot be created in `parent` (an errno), or 0 (mu_ held).
int Filesystem::CheckNewName(const NodePtr& dir, fuse_ino_t parent, const char* name) {
  if (!dir) return ENOENT;
  if (!IsLive(dir->kind)) return EROFS;
  if (Detached(*dir)) return ENOENT;  // removed, or left behind by a rollback or switch
  if (int err = NameRule(parent, name)) return err;
  if (dir->children.count(name)) return EEXIST;
  return 0;
}

// The attributes of a new entry made by the caller of `req`: its owner.
EntryAttrs Filesystem::NewAttrs(fuse_req_t req) {
  const fuse_ctx* ctx = fuse_req_ctx(req);
  EntryAttrs a;
  a.uid = ctx->uid;
  a.gid = ctx->gid;
  return a;
}

// A new live node named `name` in `dir`, owned by the caller of `req` (mu_ held).
Filesystem::NodePtr Filesystem::AddLiveNode(fuse_req_t req, Node* dir, const char* name, int kind, mode_t mode,
                                            int64_t now) {
  NodePtr n = NewNode(kind);
  n->parent = dir;
  n->name = name;
  n->mode = mode & 07777;
  n->attrs = NewAttrs(req);
  n->mtime_ns = n->ctime_ns = now;
  dir->children[name] = n->ino;
  dir->mtime_ns = dir->ctime_ns = now;
  return n;
}

void Filesystem::Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  std::lock_guard<std::mutex> lock(mu_);
  NodePtr dir = Get(parent);
  if (int err = CheckNewName(dir, parent, name)) return (void)fuse_reply_err(req, err);
  const int64_t now = NowNs();
  const std::string path = Join(PathOf(*dir), name);
  TreeEdit edit = TreeEdit::PutDirectory(path, mode & 07777, now);
  edit.attrs = NewAttrs(req);
  auto snap = CommitEdits({std::move(edit)}, options_.step_parser->FromPath(path), false);
  if (!snap.ok()) return (void)fuse_reply_err(req, StatusToErrno(snap.status()));
  NodePtr n = AddLiveNode(req, dir.get(), name, kLiveDir, mode, now);
  n->in_tree = true;
  ReplyEntry(req, n, kLiveTimeout);
}

void Filesystem::Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  // The extent file is made before mu_ is taken (no file creation under
  // the inode table's lock); a refused name drops it again, unused.
  auto extent = store_->NewExtent();
  if (!extent.ok()) return (void)fuse_reply_err(req, StatusToErrno(extent.status()));
  std::unique_lock<std::mutex> lock(mu_);
  NodePtr dir = Get(parent);
  if (int err = CheckNewName(dir, parent, name)) return (void)fuse_reply_err(req, err);
  NodePtr n = AddLiveNode(req, dir.get(), name, kLiveFile, mode, NowNs());
  // No other thread can reach `n` before mu_ is released, so its write
  // state is set without data_mu (taking it here would invert the order).
  n->write = std::make_unique<WriteState>();
  n->write->extent = std::move(extent.value());
  n->write->dirty = true;  // an empty new file is content too
  auto* fh = new FileHandle();
  fh->node = n;
  fh->writable = true;
  ++writers_;
  ++n->open_handles;
  lock.unlock();
  {
    std::lock_guard<std::mutex> data(n->data_mu);
    SetupBacking(req, *n, *fh, fi);
  }
  ChooseDirectIo(*n, *fh, fi);
  lock.lock();
  fi->fh = reinterpret_cast<uint64_t>(fh);
  ++n->nlookup;
  fuse_entry_param e = {};
  e.ino = n->ino;
  e.attr = StatOf(*n);
  e.attr_timeout = e.entry_timeout = kLiveTimeout;
  lock.unlock();
  fuse_reply_create(req, &e, fi);
}

// Unlink and rmdir: one snapshot that removes the path (when it was ever
// committed); an open file stays readable through its handles.
void Filesystem::RemoveEntry(fuse_req_t req, fuse_ino_t parent, const char* name, bool directory) {
  std::lock_guard<std::mutex> lock(mu_);
  NodePtr dir = Get(parent);
  if (!dir) return (void)fuse_reply_err(req, ENOENT);
  if (!IsLive(dir->kind)) return (void)fuse_reply_err(req, EROFS);
  if (Detached(*dir)) return (void)fuse_reply_err(req, ENOENT);
  auto it = dir->children.find(name);
  if (it == dir->children.end()) return (void)fuse_reply_err(req, ENOENT);
  NodePtr n = Get(it->second);
  if (directory && n->kind != kLiveDir) return (void)fuse_reply_err(req, ENOTDIR);
  if (!directory && n->kind == kLiveDir) return (void)fuse_reply_err(req, EISDIR);
  if (directory && !n->children.empty()) return (void)fuse_reply_err(req, ENOTEMPTY);
  if (n->in_tree) {
    auto snap = CommitEdits({TreeEdit::Remove(Join(PathOf(*dir), name))}, std::nullopt, false);
    if (!snap.ok()) return (void)fuse_reply_err(req, StatusToErrno(snap.status()));
  }
  const std::string gone = it->first;
  dir->children.erase(it);
  dir->mtime_ns = dir->ctime_ns = n->ctime_ns = NowNs();
  if (DropName(*n, dir.get(), gone)) return (void)fuse_reply_err(req, 0);  // a hard link keeps its other names
  n->unlinked = true;
  n->in_tree = false;
  n->parent = nullptr;
  fuse_reply_err(req, 0);
}

void Filesystem::Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
                        const char* newname, unsigned int flags) {
  if (flags & ~RENAME_NOREPLACE) return (void)fuse_reply_err(req, EINVAL);
  std::lock_guard<std::mutex> lock(mu_);
  NodePtr from = Get(parent), to = Get(newparent);
  if (!from || !to) return (void)fuse_reply_err(req, ENOENT);
  if (!IsLive(from->kind) || !IsLive(to->kind)) return (void)fuse_reply_err(req, EROFS);
  if (Detached(*from) || Detached(*to)) return (void)fuse_reply_err(req, ENOENT);
  if (int err = NameRule(newparent, newname)) return (void)fuse_reply_err(req, err);
  auto src_it = from->children.find(name);
  if (src_it == from->children.end()) return (void)fuse_reply_err(req, ENOENT);
  NodePtr src = Get(src_it->second);
  NodePtr dst;
  auto dst_it = to->children.find(newname);
  if (dst_it != to->children.end()) {
    dst = Get(dst_it->second);
    if (dst == src) return (void)fuse_reply_err(req, 0);
    if (flags & RENAME_NOREPLACE) return (void)fuse_reply_err(req, EEXIST);
    if (src->kind == kLiveDir && dst->kind != kLiveDir) return (void)fuse_reply_err(req, ENOTDIR);
    if (src->kind != kLiveDir && dst->kind == kLiveDir) return (void)fuse_reply_err(req, EISDIR);
    if (dst->kind == kLiveDir && !dst->children.empty()) return (void)fuse_reply_err(req, ENOTEMPTY);
  }
  for (Node* p = to.get(); p; p = p->parent)
    if (p == src.get()) return (void)fuse_reply_err(req, EINVAL);  // into its own subtree
  const std::string src_path = Join(PathOf(*from), name);
  const std::string dst_path = Join(PathOf(*to), newname);

  // The snapshot: what the head tree must look like after the move.
  std::vector<TreeEdit> edits;
  if (dst && dst->in_tree) edits.push_back(TreeEdit::Remove(dst_path));
  // A directory moves with everything below it in one edit.
  if (src->in_tree) edits.push_back(TreeEdit::Rename(src_path, dst_path, src->mode, src->mtime_ns));
  if (!edits.empty()) {
    // A new name (checkpoint-500/, model_step_5.pt) says which step it is.
    auto snap = CommitEdits(std::move(edits), options_.step_parser->FromPath(dst_path), false);
    if (!snap.ok()) return (void)fuse_reply_err(req, StatusToErrno(snap.status()));
  }
  if (dst) {
    to->children.erase(dst_it);
    if (!DropName(*dst, to.get(), newname)) {  // a hard link keeps its other names
      dst->unlinked = true;
      dst->in_tree = false;
      dst->parent = nullptr;
    }
  }
  from->children.erase(name);
  if (src->parent == from.get() && src->name == name) {
    src->parent = to.get();
    src->name = newname;
  } else {
    for (auto& [d, other] : src->other_names)
      if (d == from.get() && other == name) d = to.get(), other = newname;
  }
  to->children[newname] = src->ino;
  const int64_t now = NowNs();
  from->mtime_ns = from->ctime_ns = to->mtime_ns = to->ctime_ns = src->ctime_ns = now;
  fuse_reply_err(req, 0);
}

void Filesystem::Opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  std::lock_guard<std::mutex> lock(mu_);
  NodePtr n = Get(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  auto dh = std::make_unique<DirHandle>();
  dh->entries.emplace_back(".", n->ino, S_IFDIR);
  dh->entries.emplace_back("..", n->parent ? n->parent->ino : FUSE_ROOT_ID, S_IFDIR);
  if (n->kind == kLiveDir) {
    for (auto& [name, child] : n->children) {
      NodePtr c = Get(child);
      dh->entries.emplace_back(name, child, TypeOf(*c));
    }
  } else if (n->kind != kSnapDir && n->kind != kHistory) {
    return (void)fuse_reply_err(req, ENOTDIR);
  } else {
    Status s = ListVirtual(*n, &dh->entries);
    if (!s.ok()) return (void)fuse_reply_err(req, StatusToErrno(s));
  }
  fi->fh = reinterpret_cast<uint64_t>(dh.release());
  fuse_reply_open(req, fi);
}

void Filesystem::Readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  auto* dh = reinterpret_cast<DirHandle*>(fi->fh);
  std::string buf(size, '\0');
  size_t used = 0;
  for (size_t i = static_cast<size_t>(off); i < dh->entries.size(); ++i) {
    auto& [name, child, type] = dh->entries[i];
    struct stat st = {};
    st.st_ino = child;
    st.st_mode = type;
    size_t need = fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &st, off_t(i + 1));
    if (need > size - used) break;
    used += need;
  }
  fuse_reply_buf(req, buf.data(), used);
}

void Filesystem::Releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  delete reinterpret_cast<DirHandle*>(fi->fh);
  fuse_reply_err(req, 0);
}

}  // namespace ciuicfs
