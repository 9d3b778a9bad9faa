// How a live file's open reaches its extent: with kernel passthrough, a
// writable open gets the extent as its backing file (shared by every later
// open of the inode) and its last release commits what the kernel wrote;
// without, the daemon chooses the page-cache mode of each open (a sole
// write-only handle writes past it). fs/README.md, "How a save becomes a
// version" and "Live reads".
#include <string>

#include "fs/filesystem.h"
#include "fs/node.h"
#include "store/base/log.h"
#include "store/store.h"

namespace ciuicfs {

bool Filesystem::CanBack(Node& n) {
  if (!passthrough_ || n.kind != kLiveFile) return false;
  if (n.write && n.write->backing_id > 0) return true;
  // The kernel refuses passthrough beside cached opens of the inode. A
  // write must drop set-ID bits and file capabilities as it happens,
  // which only a write through the daemon can.
  std::lock_guard<std::mutex> lock(mu_);
  return n.open_handles <= 1 && !(killpriv_ && CarriesSetId(n.mode, n.attrs));
}

void Filesystem::SetupBacking(fuse_req_t req, Node& n, FileHandle& fh, fuse_file_info* fi) {
#ifdef CIUICFS_HAVE_PASSTHROUGH
  if (n.kind != kLiveFile) return;
  WriteState* ws = n.write.get();
  if (ws && ws->backing_id > 0) {  // every open of the inode shares its one backing file
    fi->backing_id = ws->backing_id;
    fi->keep_cache = 0;
    ++ws->backing_opens;
    fh.backing = true;
    if (fh.writable && !Privileged(req)) ws->unprivileged_writer = true;
    return;
  }
  if (!fh.writable || !ws || !CanBack(n)) return;  // readers of a file nobody writes: through the daemon
  int id = fuse_passthrough_open(req, ws->extent->fd());
  if (id <= 0) {  // new backings only; inodes that have one keep sharing it
    LogLine("mount: kernel passthrough refused (needs CAP_SYS_ADMIN and a kernel with it); writes go through the daemon");
    passthrough_ = false;
    return;
  }
  ws->backing_id = id;
  ws->backing_opens = 1;
  ws->unprivileged_writer = !Privileged(req);
  fi->backing_id = id;
  fi->keep_cache = 0;
  fh.backing = true;
  std::lock_guard<std::mutex> lock(mu_);
  n.passthrough_fd = ws->extent->shared_fd();
#else
  (void)req, (void)n, (void)fh, (void)fi;
#endif
}

// Without a backing, a file's only handle opened write-only (how trainers,
// cp and dd save) writes past the kernel's page cache: each WRITE carries
// the writer's own pages, so the bytes are copied once less and the
// checkpoint is not cached twice (the mount's pages and the extent's).
// Every other handle opened while it writes bypasses the cache too, so no
// page cached beside it can go stale, whatever the kernel does for direct
// writes. A handle opened before keeps it cached: the writer then goes
// through the page cache (the kernel keeps the two in step).
void Filesystem::ChooseDirectIo(Node& n, FileHandle& fh, fuse_file_info* fi) {
  if (n.kind != kLiveFile || fh.backing) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (fh.writable && (fi->flags & O_ACCMODE) == O_WRONLY && n.open_handles == 1) {
    fh.direct_writer = true;
    ++n.direct_writers;
  }
  if (n.direct_writers > 0) {
    fi->direct_io = 1;
    fi->keep_cache = 0;
  }
}

void Filesystem::ReleaseBacking(fuse_req_t req, const NodePtr& n, FileHandle& fh) {
#ifdef CIUICFS_HAVE_PASSTHROUGH
  if (!fh.backing) return;
  std::lock_guard<std::mutex> data(n->data_mu);
  WriteState* ws = n->write.get();
  if (!ws || --ws->backing_opens > 0) return;
  // The last handle of the backing file: what the kernel wrote after the
  // last commit (mmap, a descriptor kept open) is committed now.
  Status s = CommitContentLocked(n, false, true);
  if (!s.ok()) LogLine("commit of inode " + std::to_string(n->ino) + " at release failed: " + s.message());
  fuse_passthrough_close(req, ws->backing_id);
  {
    std::lock_guard<std::mutex> lock(mu_);
    n->passthrough_fd.reset();
  }
  n->write.reset();  // seals the extent: the background ingest may take it
#else
  (void)req, (void)n, (void)fh;
#endif
}

}  // namespace ciuicfs
