// Private to fs/: the node, handle and write-state types behind
// Filesystem's opaque declarations.
#ifndef CIUICFS_FS_NODE_H_
#define CIUICFS_FS_NODE_H_

#include <unistd.h>

#include "fs/filesystem.h"

namespace ciuicfs {

// kLiveLink: a symlink of the live tree, kLiveSpecial a FIFO, device or
// socket (Node::special says which); in a snapshot either is a kSnapFile
// whose entry says its kind.
enum NodeKind { kLiveDir, kLiveFile, kHistory, kSnapDir, kSnapFile, kLiveLink, kLiveSpecial };
inline bool IsLive(int kind) {
  return kind == kLiveDir || kind == kLiveFile || kind == kLiveLink || kind == kLiveSpecial;
}
// The S_IF* type of an entry of this kind.
mode_t FileType(EntryKind kind);

// The longest name a directory entry may have (NAME_MAX; the kernel leaves
// the check to the filesystem).
constexpr size_t kNameMax = 255;
// How long the kernel may cache a live entry's attributes and name, and an
// @ tree's (immutable).
constexpr double kLiveTimeout = 1.0;
constexpr double kImmutableTimeout = 86400.0;

// A live file being written: its whole content in an extent of the store
// (store/FORMAT.md, "Extents"), which a close commits as it is. Without
// passthrough the daemon writes the extent and drops the state at the
// commit (the extent is sealed; a later write starts a new extent from the
// committed content). With passthrough the kernel writes the extent, so the
// state lives until the last handle using the backing file is released.
struct Filesystem::WriteState {
  std::unique_ptr<ExtentWriter> extent;
  uint64_t size = 0;      // without passthrough; with it, the extent's own size
  bool dirty = false;     // changed since the last commit (without passthrough)
  int backing_id = 0;     // passthrough: the kernel's id of the extent
  int backing_opens = 0;  // handles opened with it
  // Passthrough: a handle that may write was opened by a caller who does
  // not keep set-ID bits (fs/set_id.h), so a commit of what the kernel
  // wrote drops them.
  bool unprivileged_writer = false;
  // Passthrough: the extent's size and mtime at the last commit, to tell
  // whether the kernel wrote since.
  bool committed = false;
  uint64_t committed_size = 0;
  int64_t committed_mtime = 0;
  uint32_t committed_mode = 0;  // the node's mode and attributes at that commit: a chmod,
  EntryAttrs committed_attrs;   // chown or setxattr since is a change too
};

struct Filesystem::Node {
  fuse_ino_t ino = 0;
  int kind = kLiveDir;
  // Live nodes (guarded by Filesystem::mu_).
  Node* parent = nullptr;
  std::string name;
  // A hard link's other names, beside (parent, name): one node, several
  // entries in the tree (attrs.link says so there).
  std::vector<std::pair<Node*, std::string>> other_names;
  std::map<std::string, fuse_ino_t> children;
  uint32_t mode = 0755;
  // Owner, atime, rdev, hard link and xattrs, as the tree entry keeps them.
  EntryAttrs attrs;
  EntryKind special = EntryKind::kFifo;  // kLiveSpecial
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint64_t size = 0;           // current content size
  VersionId committed;         // content as of the last commit
  VersionId cached_version;    // what the last read-only open let the kernel cache
  uint64_t committed_size = 0;
  bool in_tree = false;        // the head snapshot has this path
  bool unlinked = false;
  bool stale = false;  // left behind by a rollback or a switch: no writes through it (ESTALE)
  std::string link_target;  // kLiveLink, once read or made (its version is `committed`)
  int open_handles = 0;  // every open handle of a live file (mu_)
  int direct_writers = 0;  // of them, write-only ones past the kernel's page cache (mu_)
  uint64_t nlookup = 0;  // the kernel's references: entry replies less FORGETs (mu_)
  // The extent the kernel writes through passthrough, for getattr (mu_).
  std::shared_ptr<ExtentFd> passthrough_fd;
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
  bool backing = false;  // opened with the node's passthrough backing id
  bool direct_writer = false;  // counted in the node's direct_writers
  std::unique_ptr<VersionReader> reader;
  VersionId reader_version;
};

struct Filesystem::DirHandle {
  std::vector<std::tuple<std::string, fuse_ino_t, mode_t>> entries;
};

int64_t NowNs();

}  // namespace ciuicfs

#endif  // CIUICFS_FS_NODE_H_
