// Extended attributes of the live tree (kept in memory) and statfs.
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include <cerrno>

#include "fs/filesystem.h"
#include "fs/node.h"

namespace ciuicfs {

void Filesystem::Statfs(fuse_req_t req, fuse_ino_t ino) {
  struct statvfs st;
  if (statvfs(store_->dir().c_str(), &st) != 0) return (void)fuse_reply_err(req, errno);
  st.f_namemax = kNameMax;
  fuse_reply_statfs(req, &st);
}

void Filesystem::Setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                          int flags) {
  std::lock_guard<std::mutex> lock(mu_);
  NodePtr n = Get(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  if (!(n->kind == kLiveDir || n->kind == kLiveFile)) return (void)fuse_reply_err(req, EROFS);
  bool exists = n->xattrs.count(name) > 0;
  if ((flags & XATTR_CREATE) && exists) return (void)fuse_reply_err(req, EEXIST);
  if ((flags & XATTR_REPLACE) && !exists) return (void)fuse_reply_err(req, ENODATA);
  n->xattrs[name] = std::string(value, size);
  fuse_reply_err(req, 0);
}

void Filesystem::Getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  std::unique_lock<std::mutex> lock(mu_);
  NodePtr n = Get(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  auto it = n->xattrs.find(name);
  if (it == n->xattrs.end()) return (void)fuse_reply_err(req, ENODATA);
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
  for (auto& [k, v] : n->xattrs) names += k + '\0';
  lock.unlock();
  if (size == 0) return (void)fuse_reply_xattr(req, names.size());
  if (size < names.size()) return (void)fuse_reply_err(req, ERANGE);
  fuse_reply_buf(req, names.data(), names.size());
}

void Filesystem::Removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) {
  std::lock_guard<std::mutex> lock(mu_);
  NodePtr n = Get(ino);
  if (!n) return (void)fuse_reply_err(req, ENOENT);
  if (!(n->kind == kLiveDir || n->kind == kLiveFile)) return (void)fuse_reply_err(req, EROFS);
  fuse_reply_err(req, n->xattrs.erase(name) ? 0 : ENODATA);
}

}  // namespace ciuicfs
