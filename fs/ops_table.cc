// The one place the FUSE low-level ops are wired to Filesystem's handlers,
// and the capabilities the session asks the kernel for (Init).
#include <string>

#include "fs/filesystem.h"
#include "store/base/log.h"

namespace ciuicfs {
namespace {

Filesystem* Fs(fuse_req_t req) { return static_cast<Filesystem*>(fuse_req_userdata(req)); }

}  // namespace

const fuse_lowlevel_ops& Filesystem::Ops() {
  static const fuse_lowlevel_ops ops = [] {
    fuse_lowlevel_ops o = {};
    o.init = [](void* userdata, fuse_conn_info* conn) { static_cast<Filesystem*>(userdata)->Init(conn); };
    o.lookup = [](fuse_req_t r, fuse_ino_t p, const char* n) { Fs(r)->Lookup(r, p, n); };
    o.getattr = [](fuse_req_t r, fuse_ino_t i, fuse_file_info*) { Fs(r)->Getattr(r, i); };
    o.forget = [](fuse_req_t r, fuse_ino_t i, uint64_t n) {
      const fuse_forget_data one{i, n};
      Fs(r)->Forget(&one, 1);
      fuse_reply_none(r);
    };
    o.forget_multi = [](fuse_req_t r, size_t count, fuse_forget_data* f) {
      Fs(r)->Forget(f, count);
      fuse_reply_none(r);
    };
    o.setattr = [](fuse_req_t r, fuse_ino_t i, struct stat* a, int s, fuse_file_info* f) {
      Fs(r)->Setattr(r, i, a, s, f);
    };
    o.mkdir = [](fuse_req_t r, fuse_ino_t p, const char* n, mode_t m) { Fs(r)->Mkdir(r, p, n, m); };
    o.symlink = [](fuse_req_t r, const char* t, fuse_ino_t p, const char* n) { Fs(r)->Symlink(r, t, p, n); };
    o.mknod = [](fuse_req_t r, fuse_ino_t p, const char* n, mode_t m, dev_t d) { Fs(r)->Mknod(r, p, n, m, d); };
    o.link = [](fuse_req_t r, fuse_ino_t i, fuse_ino_t p, const char* n) { Fs(r)->Link(r, i, p, n); };
    o.readlink = [](fuse_req_t r, fuse_ino_t i) { Fs(r)->Readlink(r, i); };
    o.create = [](fuse_req_t r, fuse_ino_t p, const char* n, mode_t m, fuse_file_info* f) {
      Fs(r)->Create(r, p, n, m, f);
    };
    o.unlink = [](fuse_req_t r, fuse_ino_t p, const char* n) { Fs(r)->RemoveEntry(r, p, n, false); };
    o.rmdir = [](fuse_req_t r, fuse_ino_t p, const char* n) { Fs(r)->RemoveEntry(r, p, n, true); };
    o.rename = [](fuse_req_t r, fuse_ino_t p, const char* n, fuse_ino_t np, const char* nn, unsigned int f) {
      Fs(r)->Rename(r, p, n, np, nn, f);
    };
    o.open = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) { Fs(r)->Open(r, i, f); };
    o.read = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o, fuse_file_info* f) { Fs(r)->Read(r, i, s, o, f); };
    o.write = [](fuse_req_t r, fuse_ino_t i, const char* b, size_t s, off_t o, fuse_file_info* f) {
      Fs(r)->Write(r, i, b, s, o, f);
    };
    o.flush = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) { Fs(r)->Flush(r, i, f); };
    o.release = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) { Fs(r)->Release(r, i, f); };
    o.fsync = [](fuse_req_t r, fuse_ino_t i, int d, fuse_file_info* f) { Fs(r)->Fsync(r, i, d, f); };
    o.fsyncdir = [](fuse_req_t r, fuse_ino_t i, int d, fuse_file_info* f) { Fs(r)->Fsyncdir(r, i, d, f); };
    o.opendir = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) { Fs(r)->Opendir(r, i, f); };
    o.readdir = [](fuse_req_t r, fuse_ino_t i, size_t s, off_t o, fuse_file_info* f) {
      Fs(r)->Readdir(r, i, s, o, f);
    };
    o.releasedir = [](fuse_req_t r, fuse_ino_t i, fuse_file_info* f) { Fs(r)->Releasedir(r, i, f); };
    o.statfs = [](fuse_req_t r, fuse_ino_t i) { Fs(r)->Statfs(r, i); };
    o.setxattr = [](fuse_req_t r, fuse_ino_t i, const char* n, const char* v, size_t s, int f) {
      Fs(r)->Setxattr(r, i, n, v, s, f);
    };
    o.getxattr = [](fuse_req_t r, fuse_ino_t i, const char* n, size_t s) { Fs(r)->Getxattr(r, i, n, s); };
    o.listxattr = [](fuse_req_t r, fuse_ino_t i, size_t s) { Fs(r)->Listxattr(r, i, s); };
    o.removexattr = [](fuse_req_t r, fuse_ino_t i, const char* n) { Fs(r)->Removexattr(r, i, n); };
    return o;
  }();
  return ops;
}

void Filesystem::Init(fuse_conn_info* conn) {
  conn->max_write = kBlockSize;
  conn->max_readahead = kBlockSize;
  if (conn->capable & FUSE_CAP_PARALLEL_DIROPS) conn->want |= FUSE_CAP_PARALLEL_DIROPS;
#ifdef CIUICFS_HAVE_PASSTHROUGH
  // Passthrough excludes the writeback cache, which this daemon never asks for.
  if (options_.passthrough && (conn->capable & FUSE_CAP_PASSTHROUGH)) {
    conn->want |= FUSE_CAP_PASSTHROUGH;
    passthrough_ = true;
  }
#endif
#ifdef FUSE_CAP_DIRECT_IO_ALLOW_MMAP
  // A reader opened while a file is written past the page cache may still
  // map it shared (ChooseDirectIo).
  if (conn->capable & FUSE_CAP_DIRECT_IO_ALLOW_MMAP) conn->want |= FUSE_CAP_DIRECT_IO_ALLOW_MMAP;
#endif
#ifdef FUSE_CAP_HANDLE_KILLPRIV_V2
  // Without it the kernel asks for security.capability before every write
  // call (one more request per write) and clears set-ID bits itself.
  if (conn->capable & FUSE_CAP_HANDLE_KILLPRIV_V2) {
    conn->want |= FUSE_CAP_HANDLE_KILLPRIV_V2;
    killpriv_ = true;
  }
#endif
  LogLine(std::string("mount: writes go ") +
          (passthrough_ ? "through kernel passthrough into the store's extents"
                        : "through the daemon into the store's extents (no passthrough" +
                              std::string(options_.passthrough ? ": this libfuse or kernel lacks it)" : ": --no-passthrough)")));
}

}  // namespace ciuicfs
