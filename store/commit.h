// Commit: one snapshot in one index write transaction (FORMAT.md, "Writes
// and crash consistency"): the fresh versions' chunk rows and manifests,
// the new tree (TreeStore::Apply), the snapshot (SnapshotChain::Append) and
// the packs' rows.
#ifndef CIUICFS_STORE_COMMIT_H_
#define CIUICFS_STORE_COMMIT_H_

#include <functional>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/index/lmdb_env.h"
#include "store/index/rows.h"
#include "store/ingest/ingest_session.h"

namespace ciuicfs {

struct StoreParts;

// One change to the live tree inside a commit.
struct TreeEdit {
  enum class Op { kPutFile, kPutDirectory, kPutSymlink, kRemove, kRename, kPutSpecial };
  Op op = Op::kPutFile;
  std::string path;  // kRename: the destination, which must not exist
  std::string from;  // kRename: the source
  uint32_t mode = 0644;
  int64_t mtime_ns = 0;
  // For kPutFile/kPutSymlink: a fresh ingest, bytes [0, length) of an
  // extent (FORMAT.md, "Extents"), or an existing version.
  const PendingVersion* pending = nullptr;
  uint32_t extent = 0;
  uint64_t length = 0;
  VersionId existing;
  // With `existing`: a version the same commit stores (a commit another
  // node made on a shared store, FORMAT.md "A store on RADOS"), shown as a
  // put, not a link.
  bool carried = false;
  // For every put: what the entry keeps beyond mode and mtime (owner,
  // atime, xattrs, ...; FORMAT.md "Nodes"); a rename keeps the moved
  // entry's own. For kPutSpecial: which special file (kFifo and up).
  EntryAttrs attrs;
  EntryKind special = EntryKind::kFifo;

  static TreeEdit PutFile(std::string path, uint32_t mode, int64_t mtime_ns, const PendingVersion* v);
  static TreeEdit PutExtent(std::string path, uint32_t mode, int64_t mtime_ns, uint32_t extent, uint64_t length);
  static TreeEdit PutExisting(std::string path, uint32_t mode, int64_t mtime_ns, const VersionId& v);
  static TreeEdit PutCarried(std::string path, uint32_t mode, int64_t mtime_ns, const VersionId& v);
  static TreeEdit PutDirectory(std::string path, uint32_t mode, int64_t mtime_ns);
  // A symlink whose target is the content of `v` (mode 0777).
  static TreeEdit PutSymlink(std::string path, int64_t mtime_ns, const PendingVersion* v);
  // A FIFO, device (attrs.rdev) or socket: no content.
  static TreeEdit PutSpecial(std::string path, EntryKind kind, uint32_t mode, int64_t mtime_ns);
  // `e` again as it is stored (a rollback): a directory without what it
  // holds, a file or symlink naming its existing version, attributes kept.
  static TreeEdit PutEntry(const TreeEntry& e);
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
  // Through the commit log (FORMAT.md, "Commit log"): Store::Commit returns
  // once it is logged, with only the time and the extent versions' changes
  // of the snapshot; a durable one returns once it is applied and synced.
  bool logged = false;
  // Per edit, the id of an extent version, fixed before the commit is
  // logged (FORMAT.md, "Commit log"); empty or zero: made at commit.
  std::vector<VersionId> version_ids;
};

Result<Snapshot> CommitSnapshot(const StoreParts& parts, const CommitRequest& req);
// Several commits in one index transaction, one snapshot each, in order;
// `also` (may be empty) writes more rows in the same transaction.
Result<std::vector<Snapshot>> CommitMany(const StoreParts& parts, const std::vector<CommitRequest>& reqs,
                                         const std::function<Status(Txn&)>& also);
// What a commit made on another node adds before its edits (FORMAT.md, "A
// store on RADOS"): chunk rows, each where the index has none, and
// manifests, each where the index lacks it.
struct CarriedRows {
  std::vector<std::pair<ChunkId, PackLocation>> chunks;
  std::vector<Manifest> manifests;
};
// Commits `req` (no fresh ingest, no extent; its puts of carried versions
// are TreeEdit::PutCarried) inside `txn`, after the rows of `carried`; the
// packs those rows name count as synced to their end.
Status CommitCarriedInTxn(const StoreParts& parts, Txn& txn, const CommitRequest& req, const CarriedRows& carried,
                          Snapshot* out);
// Makes `req` ready to be logged: its paths checked, its time and its
// extent versions' ids fixed. InvalidArgument for an edit naming a fresh
// ingest (its pins live only in memory).
Status PrepareForLog(CommitRequest* req);
// The puts of extent versions that a prepared `req` will commit, as the
// snapshot's changes will name them.
std::vector<Change> LoggedChanges(const CommitRequest& req);

// Pieces of a commit that the background ingest (extent/ingest_job.h) uses
// for the versions it makes.
struct PackDelta {
  uint64_t end = 0;
  uint64_t bytes = 0;
  uint64_t records = 0;
};
// Rows for the chunks of `pv` that have none (or a lost one), from where
// the pin table says they lie; what they add to each pack.
Status IndexPendingChunks(Txn& txn, const PendingVersion& pv, const std::map<ChunkId, PackLocation>& pending_locs,
                          std::map<uint32_t, PackDelta>* deltas, uint64_t* bytes_added);
// How far the index reaches into each pack, and what is synced.
Status UpdatePackRows(Txn& txn, std::map<uint32_t, PackDelta> deltas, const std::map<uint32_t, uint64_t>& synced);
// The reverse: records that left each pack, or extent (kExtentPackFlag |
// E), come off its row (an extent row that keeps nothing is deleted, and
// its number goes into `*emptied` when given). A row gone already stays gone.
Status TakeFromPackRows(Txn& txn, const std::map<uint32_t, PackDelta>& left, std::set<uint32_t>* emptied = nullptr);
// Makes the versions' chunks durable: the ingest lane's packs, and every
// pack holding a chunk they reuse beyond its synced end.
Status SyncChunksOf(const StoreParts& parts, const std::vector<const PendingVersion*>& versions,
                    std::map<uint32_t, uint64_t>* synced);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_COMMIT_H_
