// Commit: one snapshot in one index write transaction (FORMAT.md, "Writes
// and crash consistency"): the fresh versions' chunk rows and manifests,
// the new tree (TreeStore::Apply), the snapshot (SnapshotChain::Append) and
// the packs' rows.
#ifndef CIUICFS_STORE_COMMIT_H_
#define CIUICFS_STORE_COMMIT_H_

#include <optional>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/index/rows.h"
#include "store/ingest/ingest_session.h"

namespace ciuicfs {

struct StoreParts;

// One change to the live tree inside a commit.
struct TreeEdit {
  enum class Op { kPutFile, kPutDirectory, kPutSymlink, kRemove, kRename };
  Op op = Op::kPutFile;
  std::string path;  // kRename: the destination, which must not exist
  std::string from;  // kRename: the source
  uint32_t mode = 0644;
  int64_t mtime_ns = 0;
  // For kPutFile/kPutSymlink: either a fresh ingest or an existing version.
  const PendingVersion* pending = nullptr;
  VersionId existing;

  static TreeEdit PutFile(std::string path, uint32_t mode, int64_t mtime_ns, const PendingVersion* v);
  static TreeEdit PutExisting(std::string path, uint32_t mode, int64_t mtime_ns, const VersionId& v);
  static TreeEdit PutDirectory(std::string path, uint32_t mode, int64_t mtime_ns);
  // Removes the entry and, for a directory, everything below it.
  static TreeEdit Remove(std::string path);
  // Moves `from` and everything below it to `to`, in one edit; the moved
  // entry takes `mode` and `mtime_ns`, the entries below it keep theirs.
  static TreeEdit Rename(std::string from, std::string to, uint32_t mode, int64_t mtime_ns);
};

struct CommitRequest {
  std::vector<TreeEdit> edits;
  std::string branch = "main";  // whose head the snapshot follows and becomes
  std::optional<int64_t> step;  // unset: the head's step (0 for the first)
  int64_t time_ns = 0;          // 0: now
  bool durable = false;         // survive power loss, not only a process kill
};

Result<Snapshot> CommitSnapshot(const StoreParts& parts, const CommitRequest& req);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_COMMIT_H_
