// Extended attributes (stored with each entry, store/FORMAT.md "Nodes";
// read-only under @) and statfs.
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include <cerrno>
#include <optional>
#include <string_view>

#include "fs/errno_map.h"
#include "fs/filesystem.h"
#include "fs/node.h"

namespace ciuicfs {

void Filesystem::Statfs(fuse_req_t req, fuse_ino_t ino) {
  struct statvfs st;
  if (statvfs(store_->dir().c_str(), &st) != 0) return (void)fuse_reply_err(req, errno);
  st.f_namemax = kNameMax;
  fuse_reply_statfs(req, &st);
}

// Names as a local disk takes them: the user, trusted and security
// namespaces (the kernel checks who may write which).
static bool KnownNamespace(std::string_view name) {
  for (std::string_view ns : {"user.", "trusted.", "security."})
    if (name.substr(0, ns.size()) == ns && name.size() > ns.size()) return true;
  return false;
}

// A change of a live entry's xattrs: `change` edits a copy and says the
// errno (0: done). Like a chmod it is a snapshot of its own (data_mu
// before mu_).
void Filesystem::ChangeXattrs(fuse_req_t req, fuse_ino_t ino,
                              const std::function<int(std::map<std::string, std::string>*)>& change) {
  NodePtr n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n = Get(ino);
  }
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  if (!IsLive(n->kind)) return (void)fuse_reply_err(req, EROFS);
  std::unique_lock<std::mutex> data(n->data_mu, std::defer_lock);
  if (n->kind == kLiveFile) data.lock();
  std::lock_guard<std::mutex> lock(mu_);
  EntryAttrs attrs = n->attrs;
  if (int err = change(&attrs.xattrs)) return (void)fuse_reply_err(req, err);
  if (attrs.xattrs.size() > kMaxXattrs) return (void)fuse_reply_err(req, ENOSPC);
  if (attrs == n->attrs) return (void)fuse_reply_err(req, 0);
  // The snapshot takes the file's own step, as its close does: its
  // user.ciuic.step (just set, or set before), else its path; so setting
  // user.ciuic.step says which step that snapshot is, and a metric set on
  // checkpoint-200/model.pt is step 200's.
  std::optional<int64_t> step;
  auto x = attrs.xattrs.find("user.ciuic.step");
  if (x != attrs.xattrs.end()) step = StepParser::FromXattr(x->second);
  if (!step) step = options_.step_parser->FromPath(PathOf(*n));
  Status s = CommitMetadata(*n, n->mode, n->mtime_ns, attrs, step);
  if (!s.ok()) return (void)fuse_reply_err(req, StatusToErrno(s));
  n->attrs = std::move(attrs);
  n->ctime_ns = NowNs();
  fuse_reply_err(req, 0);
}

void Filesystem::Setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                          int flags) {
  if (!KnownNamespace(name)) return (void)fuse_reply_err(req, EOPNOTSUPP);
  if (size > kMaxXattrValue) return (void)fuse_reply_err(req, E2BIG);
  ChangeXattrs(req, ino, [&](std::map<std::string, std::string>* x) {
    const bool exists = x->count(name) > 0;
    if ((flags & XATTR_CREATE) && exists) return EEXIST;
    if ((flags & XATTR_REPLACE) && !exists) return ENODATA;
    (*x)[name] = std::string(value, size);
    return 0;
  });
}

void Filesystem::Removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  ChangeXattrs(req, ino, [&](std::map<std::string, std::string>* x) { return x->erase(name) ? 0 : ENODATA; });
}

// A live entry's xattrs, or a snapshot entry's as stored (mu_ held).
const std::map<std::string, std::string>* Filesystem::XattrsOf(const Node& n) {
  static const std::map<std::string, std::string> none;
  if (IsLive(n.kind)) return &n.attrs.xattrs;
  return n.kind == kSnapDir || n.kind == kSnapFile ? &n.entry.attrs.xattrs : &none;
}

void Filesystem::Getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  std::unique_lock<std::mutex> lock(mu_);
  NodePtr n = Get(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  const auto* x = XattrsOf(*n);
  auto it = x->find(name);
  if (it == x->end()) return (void)fuse_reply_err(req, ENODATA);
  std::string v = it->second;
  lock.unlock();
  if (size == 0) return (void)fuse_reply_xattr(req, v.size());
  if (size < v.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, v.data(), v.size());
}

void Filesystem::Listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  std::unique_lock<std::mutex> lock(mu_);
  NodePtr n = Get(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  std::string names;
  for (auto& [k, v] : *XattrsOf(*n)) names += k + '\0';
  lock.unlock();
  if (size == 0) return (void)fuse_reply_xattr(req, names.size());
  if (size < names.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, names.data(), names.size());
}

}  // namespace ciuicfs
