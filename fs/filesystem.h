// Filesystem: the ciuicfs FUSE daemon's state and its low-level handlers.
//
// Inodes: FUSE_ROOT_ID is the live root. Live nodes form an in-memory tree
// (parent pointer + name, and a hard link's other names) loaded from the
// head snapshot at mount; every namespace or metadata change (create+close,
// mkdir, symlink, mknod, link, unlink, rmdir, rename, chmod, chown, utimens,
// setxattr, removexattr) is committed to the store as one snapshot, so the
// live tree after a remount is the head tree. Read-only nodes serve the @ namespace: a snapshot root or an entry
// of a snapshot's tree (seq, path), plus @history. They keep the snapshot's
// tree id, not its tree: a lookup reads one path from the store, a readdir
// one directory, so what the @ namespace holds is its nodes alone. A node
// counts the kernel's references (each entry reply adds one, FORGET takes
// them back); at none, a snapshot's node or an unlinked live one leaves
// the inode table, so the daemon's memory is bounded by the live tree,
// what the kernel holds, and the nodes rollbacks and switches left behind
// (their old directories may still name them).
// readdir of an @ tree makes no nodes: an entry without one gets
// FUSE_UNKNOWN_INO, its lookup makes it.
//
// Locking: `mu_` guards the inode table, the live tree shape and every
// node's metadata; a node's `data_mu` guards its write state. Order:
// data_mu, then mu_. Store calls are made with at most these held; no lock
// is held across a FUSE reply that could block.
#ifndef CIUICFS_FS_FILESYSTEM_H_
#define CIUICFS_FS_FILESYSTEM_H_

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <string>
#include <unordered_map>
#include <vector>

#include "fs/set_id.h"
#include "fs/step.h"
#include "store/store.h"

namespace ciuicfs {

struct MountOptions {
  std::string store_dir;
  std::string mountpoint;
  std::string branch = "main";  // the branch whose head the live tree is (it must exist)
  std::optional<StepParser> step_parser;  // set by the caller
  bool allow_other = false;
  // Let the kernel write files straight into their extents (FUSE
  // passthrough) where libfuse and the kernel allow it.
  bool passthrough = true;
  // Re-encode stored chunks in the background (store/FORMAT.md, "Encoded
  // records"); read by the mount command, which opens the store.
  bool reencode = true;
  // What the mount command opens: `store_dir`, or "rados:POOL/NAME", whose
  // node cache `store_dir` then is (store/FORMAT.md, "A store on RADOS"),
  // with this Ceph configuration file (empty: librados' default search).
  std::string store_location;
  std::string ceph_conf;
};

class Filesystem {
 public:
  Filesystem(Store* store, MountOptions options);
  ~Filesystem();
  // Builds the live tree from the head snapshot.
  Status Load();
  // Replaces the live tree with the head snapshot's (after a rollback run
  // through the control socket) and tells the kernel to forget old names.
  Status ReloadLiveTree();
  // The branch the live tree follows; commits move its head.
  std::string branch() const;
  // Makes `name`'s head the live tree (as a rollback reloads it); the
  // branch left keeps its head. Refused while a file is open for writing.
  Status SwitchBranch(const std::string& name);
  // Runs `commit` (a rollback) and replaces the live tree with the new head
  // in one step under mu_; refused while a file is open for writing.
  Result<Snapshot> CommitAndReload(const std::function<Result<Snapshot>()>& commit);
  void SetSession(fuse_session* se) { session_ = se; }
  static const fuse_lowlevel_ops& Ops();

  // Handlers (one reply each).
  void Init(fuse_conn_info* conn);
  // FUSE's message size (max_write), its readahead and st_blksize.
  static constexpr uint32_t kBlockSize = 1 << 20;
  void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void Getattr(fuse_req_t req, fuse_ino_t ino);
  void Forget(const fuse_forget_data* forgets, size_t count);  // one lock for a batch
  void Setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi);
  void Mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
  void Symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name);
  void Mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev);
  void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname);
  void Readlink(fuse_req_t req, fuse_ino_t ino);
  void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi);
  void RemoveEntry(fuse_req_t req, fuse_ino_t parent, const char* name, bool directory);  // unlink, rmdir
  void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent, const char* newname,
              unsigned int flags);
  void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
  void Write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off, fuse_file_info* fi);
  void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void Fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
  void Fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
  void Opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void Readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
  void Releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void Statfs(fuse_req_t req, fuse_ino_t ino);
  void Setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size, int flags);
  void Getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
  void Listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
  void Removexattr(fuse_req_t req, fuse_ino_t ino, const char* name);

 private:
  struct Node;
  struct WriteState;
  struct FileHandle;
  struct DirHandle;
  using NodePtr = std::shared_ptr<Node>;

  // Inode table (mu_ held).
  NodePtr Get(fuse_ino_t ino);
  NodePtr NewNode(int kind);
  std::string PathOf(const Node& n) const;
  // Every path of `n`: its own first, then a hard link's other names.
  std::vector<std::string> PathsOf(const Node& n) const;
  static std::string Join(const std::string& dir, const std::string& name);
  struct stat StatOf(const Node& n) const;
  // The S_IF* type of a node: what readdir says (no fstat, unlike StatOf).
  static mode_t TypeOf(const Node& n);
  void ReplyEntry(fuse_req_t req, const NodePtr& n, double timeout);
  static int NameRule(fuse_ino_t parent, const char* name);
  int CheckNewName(const NodePtr& dir, fuse_ino_t parent, const char* name);
  NodePtr AddLiveNode(fuse_req_t req, Node* dir, const char* name, int kind, mode_t mode, int64_t now);
  static EntryAttrs NewAttrs(fuse_req_t req);
  // The edits that put live node `n` at each of its paths as it is, but
  // for `mode`, `mtime` and `attrs` (mu_ held).
  std::vector<TreeEdit> EntryEdits(const Node& n, uint32_t mode, int64_t mtime, const EntryAttrs& attrs) const;
  Status CommitMetadata(Node& n, uint32_t mode, int64_t mtime, const EntryAttrs& attrs, std::optional<int64_t> step);
  // Takes the name (dir, name) from `n`: another of its names becomes its
  // own when that was it; false when it was its last (mu_ held).
  static bool DropName(Node& n, Node* dir, const std::string& name);
  void ChangeXattrs(fuse_req_t req, fuse_ino_t ino, const std::function<int(std::map<std::string, std::string>*)>& change);
  static const std::map<std::string, std::string>* XattrsOf(const Node& n);

  Status BuildLiveTree(Node* root, const std::string& branch);
  Status ReplaceLiveTree(const std::optional<std::string>& branch, const std::function<Status()>& before);
  // A live directory that is no longer in the tree (removed, or left behind
  // by a rollback or a switch): it takes no new names.
  static bool Detached(const Node& n);

  // The @ namespace (virtual_ns.cc).
  Result<NodePtr> LookupVirtualRoot(const std::string& name, double* timeout);
  NodePtr SnapRoot(const Snapshot& s);
  // The node of `entry` in snapshot `seq` (tree `tree`), made on first use.
  NodePtr SnapNode(uint64_t seq, const Hash128& tree, const TreeEntry& entry);
  // The inode of snapshot `seq`'s `path` when a node has it, else
  // kUnknownIno (what readdir says of an entry not looked up).
  static constexpr fuse_ino_t kUnknownIno = 0xffffffff;
  fuse_ino_t KnownSnapIno(uint64_t seq, const std::string& path) const;
  Result<NodePtr> LookupInSnap(Node& dir, const std::string& name);
  Status ListVirtual(Node& dir, std::vector<std::tuple<std::string, fuse_ino_t, mode_t>>* out);
  static std::string HistoryName(const Snapshot& s);

  // Whether writes go through kernel passthrough (known after Init).
  bool passthrough_active() const { return passthrough_; }

  // Live file data (live_data.cc); data_mu held.
  // Gives `n` a write state whose extent holds its current content.
  Status EnsureExtent(Node& n);
  // Opens of live files: passthrough where it can be used (data_mu held).
  void SetupBacking(fuse_req_t req, Node& n, FileHandle& fh, fuse_file_info* fi);
  bool CanBack(Node& n);  // a backing may be set up for a writable open of `n`
  // Opens without a backing: whether the kernel's page cache is bypassed
  // (mu_ not held).
  void ChooseDirectIo(Node& n, FileHandle& fh, fuse_file_info* fi);
  Status NoteOpenedContent(Node& n);
  void ReleaseBacking(fuse_req_t req, const NodePtr& n, FileHandle& fh);
  Status WriteAt(Node& n, const char* buf, size_t size, uint64_t off, const SetIdCaller& caller);
  // The caller of `req` for fs/set_id.h's rules.
  static SetIdCaller CallerOf(fuse_req_t req);
  // Whether the caller keeps set-ID bits on a write: a local disk asks for
  // CAP_FSETID, which libfuse does not pass; uid 0 stands for it.
  static bool Privileged(fuse_req_t req);
  // Applies fs/set_id.h's rule to `n` where the kernel leaves it to the
  // daemon (mu_ held, and data_mu for a file).
  void DropSetIdLocked(Node& n, SetIdChange change, const SetIdCaller& caller);
  Result<size_t> ReadLive(Node& n, FileHandle& fh, char* buf, size_t size, uint64_t off);
  // Drops set-ID bits as a write by `caller` would (fs/set_id.h).
  Status TruncateLive(Node& n, uint64_t size, const SetIdCaller& caller);
  // Makes the node's written content a version and commits it; no-op when
  // it has nothing new. Takes mu_ itself.
  Status CommitContent(const NodePtr& n, bool durable);
  // The same with data_mu held; `releasing`: the backing's last release.
  Status CommitContentLocked(const NodePtr& n, bool durable, bool releasing, bool* committed = nullptr);
  // `logged`: through the commit log (no edit naming a fresh ingest);
  // else straight into the index.
  Result<Snapshot> CommitEdits(std::vector<TreeEdit> edits, std::optional<int64_t> step, bool durable,
                               bool logged = true);

  Store* store_;
  MountOptions options_;
  mutable std::mutex branch_mu_;  // guards branch_; taken alone or inside mu_, never around another lock
  std::string branch_;
  std::atomic<int> writers_{0};   // open handles that may write a live file (changed under mu_)
  fuse_session* session_ = nullptr;
  std::atomic<bool> passthrough_{false};
  // The kernel leaves set-ID bits and file capabilities to the daemon
  // (FUSE_HANDLE_KILLPRIV_V2; fs/set_id.h), known after Init.
  std::atomic<bool> killpriv_{false};

  std::mutex mu_;
  std::unordered_map<fuse_ino_t, NodePtr> nodes_;
  fuse_ino_t next_ino_ = FUSE_ROOT_ID + 1;
  std::map<std::pair<uint64_t, std::string>, fuse_ino_t> snap_inodes_;  // (seq, path) -> ino
  NodePtr history_;                                                    // @history
  uint64_t forgotten_ = 0;  // nodes FORGET removed (mu_)
};

}  // namespace ciuicfs

#endif  // CIUICFS_FS_FILESYSTEM_H_
