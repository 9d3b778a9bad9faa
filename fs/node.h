// Private to fs/: the node, handle and write-state types behind
// Filesystem's opaque declarations.
#ifndef CIUICFS_FS_NODE_H_
#define CIUICFS_FS_NODE_H_

#include <unistd.h>

#include "fs/filesystem.h"

namespace ciuicfs {

enum NodeKind { kLiveDir, kLiveFile, kHistory, kSnapDir, kSnapFile };
inline bool IsLive(int kind) { return kind == kLiveDir || kind == kLiveFile; }

// The longest name a directory entry may have (NAME_MAX; the kernel leaves
// the check to the filesystem).
constexpr size_t kNameMax = 255;

// What a live file has been written since its last commit. Streaming: the
// bytes went straight into an ingest. Staging: a private file holds the
// whole content (random writes, truncates, reads while writing).
struct Filesystem::WriteState {
  std::unique_ptr<IngestSession> ingest;
  uint64_t streamed = 0;
  int fd = -1;
  std::string staging_path;
  uint64_t staged_size = 0;
  bool dirty = false;
  bool staging() const { return fd >= 0; }
  ~WriteState() {
    if (fd >= 0) {
      close(fd);
      unlink(staging_path.c_str());
    }
  }
};

struct Filesystem::Node {
  fuse_ino_t ino = 0;
  int kind = kLiveDir;
  // Live nodes (guarded by Filesystem::mu_).
  Node* parent = nullptr;
  std::string name;
  std::map<std::string, fuse_ino_t> children;
  uint32_t mode = 0755;
  uid_t uid = 0;
  gid_t gid = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint64_t size = 0;           // current content size
  VersionId committed;         // content as of the last commit
  uint64_t committed_size = 0;
  bool in_tree = false;        // the head snapshot has this path
  bool unlinked = false;
  bool stale = false;  // left behind by a rollback or a switch: no writes through it (ESTALE)
  std::map<std::string, std::string> xattrs;
  // Write state (guarded by data_mu).
  std::mutex data_mu;
  std::unique_ptr<WriteState> write;
  // Snapshot nodes: immutable. `tree` names the snapshot's tree, read from
  // the store one path or one directory at a time, never held here.
  uint64_t seq = 0;
  Hash128 tree;
  TreeEntry entry;  // path within the snapshot; kind dir for roots
};

struct Filesystem::FileHandle {
  NodePtr node;
  std::mutex reader_mu;  // the kernel reads one handle from several threads
  bool writable = false;
  std::unique_ptr<VersionReader> reader;
  VersionId reader_version;
};

struct Filesystem::DirHandle {
  std::vector<std::tuple<std::string, fuse_ino_t, mode_t>> entries;
};

int64_t NowNs();

}  // namespace ciuicfs

#endif  // CIUICFS_FS_NODE_H_
