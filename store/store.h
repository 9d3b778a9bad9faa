// Store: the deduplicated, versioned chunk store that backs a ciuicfs mount,
// and the one header fs/ includes.
//
// One Store object owns one store (FORMAT.md, "Directory layout") and holds
// its LOCK for its lifetime, so exactly one process has a store open. It is
// a facade: each call is forwarded to the part that owns the job (README.md
// has the map). Every method is thread-safe. Typical use:
//
//   auto store = Store::Open(dir, {});
//   auto ingest = (*store)->NewIngest();
//   ingest->Append(buf, n);  ...                // pieces of any size
//   auto version = ingest->Finish();            // chunks stored, not yet visible
//   CommitRequest req;
//   req.edits.push_back(TreeEdit::PutFile("model.pt", 0644, mtime, &*version));
//   auto snap = (*store)->Commit(req);          // one LMDB transaction
//
// Reads never hold an LMDB transaction across calls. After a failed sync
// or background write every change fails with that error until the store is
// reopened (background_error()).
#ifndef CIUICFS_STORE_STORE_H_
#define CIUICFS_STORE_STORE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/base/chunk_id.h"
#include "store/base/log.h"
#include "store/base/status.h"
#include "store/chain/branch_name.h"
#include "store/commit.h"
#include "store/extent/extent_store.h"
#include "store/gc.h"
#include "store/index/rows.h"
#include "store/ingest/chunker.h"
#include "store/ingest/ingest_session.h"
#include "store/ingest/version_reader.h"
#include "store/record/training_record.h"
#include "store/verify.h"

namespace ciuicfs {

class BackgroundScheduler;
class ClusterChain;
class ExtentStore;
class ExtentWriter;
struct IngestJobStats;
struct ReencodeStats;
class NodeTreeStore;
class LmdbEnv;
class LogApplier;
struct LoggedCommit;
class PackBackend;
class PackStore;
class Refs;
class SnapshotChain;
struct StoreParts;

struct StoreOptions {
  // Used only when the store is created; an existing store keeps its own.
  ChunkerParams chunker;
  uint64_t initial_map_size = 64ull << 20;
  uint64_t pack_target_size = 128ull << 20;
  bool create_if_missing = true;
  // Open an existing store without its lock while another process (a
  // mount) may be writing it: every query works, every change is ReadOnly.
  bool read_only = false;
  // Convert a format 1 store to this build's format while opening it (one
  // index transaction; `ciuicfs upgrade`). Without it a format 1 store is
  // refused with a line that says how to convert it.
  bool upgrade = false;
  // With `upgrade`: called now and then with the snapshots converted and
  // the number to convert.
  std::function<void(uint64_t done, uint64_t total)> upgrade_progress;
  // Share the store with other processes that open it the same way (mounts
  // of one store on different branches; FORMAT.md, "Several processes"):
  // each commits to its own branch and appends to its own packs. Repairs on
  // open run only when no other process has the store open; gc runs only
  // while no other process does (else Busy).
  bool shared = false;
  // Re-encode stored chunks in the background after each ingest (FORMAT.md,
  // "Encoded records"); the daemon turns it on. Reencode() works either way.
  bool background_reencode = false;
  // A store on RADOS ("rados:POOL/NAME"): the node's cache directory
  // (required), the Ceph configuration file (empty: librados' default
  // search) and the Ceph user (FORMAT.md, "A store on RADOS"). Opening the
  // cache directory itself opens the store its RADOS file names.
  std::string cache_dir;
  std::string ceph_conf;
  std::string ceph_user = "admin";
  // A store on RADOS: how often this node renews its lease, and the grace
  // after which other nodes take an unrenewed lease for a dead node's
  // (FORMAT.md, "Leases and gc on a shared store").
  std::chrono::milliseconds lease_renew{2000};
  std::chrono::milliseconds lease_grace{30000};
  // Tests: wraps the pack backend the store's URI picked (e.g. in a
  // FaultBackend, store/pack/fault_backend.h).
  std::function<std::unique_ptr<PackBackend>(std::unique_ptr<PackBackend>)> wrap_pack_backend;
};

struct StoreStats {
  uint64_t snapshots = 0;
  uint64_t versions = 0;      // manifests
  uint64_t chunks = 0;        // index rows
  uint64_t pack_files = 0;
  uint64_t stored_bytes = 0;  // sum of pack file sizes
  uint64_t live_bytes = 0;    // record bytes the index points at
  uint64_t extent_files = 0;  // files in extents/
  uint64_t extent_bytes = 0;  // the disk space they take (holes punched by ingest and gc do not count)
  // The background ingest's backlog: versions still in extents, their bytes.
  uint64_t backlog_versions = 0;
  uint64_t backlog_bytes = 0;
  // Re-encoding: the chunks' raw bytes (after dedup), how many chunks are
  // encoded and of them deltas, and the bytes of the versions the
  // snapshots after `reencoded_through` put (still to be considered).
  uint64_t unique_bytes = 0;
  uint64_t encoded_chunks = 0;
  uint64_t delta_chunks = 0;
  uint64_t reencode_waiting_bytes = 0;
};

// What the background work has still to do: versions and bytes still in
// extents (ingest), and the bytes still to re-encode (StoreStats has the
// same three figures).
struct BackgroundWork {
  uint64_t ingest_versions = 0, ingest_bytes = 0, reencode_bytes = 0;
  bool operator==(const BackgroundWork&) const = default;
};

class Store {
 public:
  // `location`: a directory, "file:DIR", or "rados:POOL/NAME" (with
  // options.cache_dir; builds without librados refuse it).
  static Result<std::unique_ptr<Store>> Open(const std::string& location, const StoreOptions& options);
  ~Store();

  std::unique_ptr<IngestSession> NewIngest();
  // A new extent for a file being written (FORMAT.md, "Extents"); commit
  // its bytes with TreeEdit::PutExtent, then Seal it (or destroy it) so the
  // background ingest can take it.
  Result<std::unique_ptr<ExtentWriter>> NewExtent();
  // Ingests every sealed extent now listed and waits for it (umount,
  // tests). Extents whose bytes are lost stay listed. A shared store
  // drains only the extents this process committed.
  Status DrainIngest();
  // Drains the ingest, then re-encodes every snapshot not yet considered
  // and waits for it (`ciuicfs compact`, tests; store_encode.cc);
  // `progress` hears the bytes done of those waiting at the start.
  Status Reencode(const std::function<void(uint64_t done, uint64_t total)>& progress = nullptr);
  // Schedules re-encoding in the background and returns.
  void StartReencode();
  // Moves the versions committed from extent `from` to a copy of its bytes
  // in `to` (a new extent, synced before the index names it), so `from`
  // can be truncated or rewritten by the kernel without changing them.
  Status MoveExtentVersions(uint32_t from, ExtentWriter* to);
  Result<Snapshot> Commit(const CommitRequest& req);
  // Makes everything committed so far survive power loss.
  Status Sync();

  // The chain. Head is nullopt for a branch with no snapshot yet (main in
  // an empty store), NotFound for a branch that does not exist.
  Result<std::optional<Snapshot>> Head(const std::string& branch = "main");
  Result<Snapshot> GetSnapshot(uint64_t seq);
  Result<std::vector<Snapshot>> ListSnapshots();  // every branch's, oldest first
  // The snapshots on the branch's line (its head back to the first), oldest first.
  Result<std::vector<Snapshot>> BranchLine(const std::string& branch);
  // Newest snapshot with this step on the branch's line.
  Result<Snapshot> FindByStep(int64_t step, const std::string& branch = "main");
  // The one snapshot whose hex id starts with `prefix` (>= 8 hex digits);
  // NotFound when none, InvalidArgument when several match.
  Result<Snapshot> FindByIdPrefix(std::string_view prefix);
  // A whole tree, every entry sorted by path: O(tree). Prefer the two
  // below, which read only the directories on the way.
  Result<Tree> GetTree(const Hash128& tree_id);
  // The entry at `path` in tree `tree_id`; nullopt when there is none.
  Result<std::optional<TreeEntry>> LookupInTree(const Hash128& tree_id, std::string_view path);
  // The entries directly inside directory `dir` ("" = the top), sorted.
  Result<std::vector<TreeEntry>> ListTreeDir(const Hash128& tree_id, std::string_view dir);
  Result<Manifest> GetManifest(const VersionId& id);
  // (sequence, change) pairs for one path, oldest first.
  Result<std::vector<std::pair<uint64_t, Change>>> PathHistory(std::string_view path);
  Result<std::unique_ptr<VersionReader>> OpenVersion(const VersionId& id);
  // Reads a version that is finished but not committed (valid while
  // `version` lives, since its pins keep its chunks).
  std::unique_ptr<VersionReader> OpenPending(const PendingVersion& version);
  Status ReadChunk(const ChunkId& id, std::string* out);

  // Tags name snapshots and pin them: a tagged snapshot cannot be dropped.
  // Names are 1-64 of [A-Za-z0-9._-], not "latest" and not starting "step-".
  Status SetTag(const std::string& name, uint64_t seq);
  Status DeleteTag(const std::string& name);
  Result<std::map<std::string, uint64_t>> Tags();
  // A snapshot by reference: "latest", "latest~K" (K snapshots before the
  // branch's head on its line), "step-N" (on that line), a tag, a branch
  // name (its head), or an id prefix (>= 8 hex).
  // Also "best-METRIC" / "best-max-METRIC": the snapshot of the branch's
  // line whose training record has METRIC lowest / highest
  // (store/record/README.md).
  Result<Snapshot> ResolveRef(const std::string& ref, const std::string& branch = "main");
  // What the trainer recorded with snapshot `s`: metrics and notes from its
  // changed files' trainer_state.json and user.ciuic.* xattrs.
  Result<SnapshotRecord> Record(const Snapshot& s) { return records_->Of(s); }

  // Branches: named heads; a new store has "main" (FORMAT.md, `branches`).
  // Names are 1-64 of [A-Za-z0-9._-], not starting with '.' or '-', no "..".
  Result<std::map<std::string, uint64_t>> Branches();  // name -> head sequence (0: none yet)
  // A new branch whose head is snapshot `seq` (0: no snapshot yet, for a
  // branch made in an empty store); copies nothing.
  Status CreateBranch(const std::string& name, uint64_t seq);
  // Removes the name (never main) and drops the snapshots only it reached:
  // those of its line on no other branch's line and without a tag. gc
  // then frees what only they held.
  Status DeleteBranch(const std::string& name);

  // Removes snapshots from the retained set (never the head) and releases
  // what only they referenced. Bytes are reclaimed by Gc.
  Status DropSnapshots(const std::vector<uint64_t>& seqs);
  // Deletes unreferenced chunks, then compacts packs in the background job
  // and waits for it. One gc at a time. On RADOS: waits for the other
  // nodes' leases, deletes what no save holds on every node and empties
  // the packs left without a live record (no compaction).
  // `progress`, when set, is called now and then (from the background
  // thread) with the live record bytes compaction has moved and the total it
  // will move; never when there is nothing to compact, nor on RADOS.
  Result<GcStats> Gc(const GcOptions& options,
                     const std::function<void(uint64_t done, uint64_t total)>& progress = nullptr);
  // `progress`, when set, is called now and then with the chunk bytes
  // checked so far and the total to check.
  Result<VerifyReport> Verify(const std::function<void(uint64_t done, uint64_t total)>& progress = nullptr);
  Result<StoreStats> Stats();
  // Without Stats' scan of every row: cheap enough to poll.
  Result<BackgroundWork> Waiting();

  // Whether the store lives on RADOS (its chain in commit objects; the
  // index here is a cache).
  bool on_rados() const { return cluster_ != nullptr; }
  // A store on RADOS: applies the commits other nodes made since the last
  // catch-up (a poll does it every 500 ms anyway). OK for a local store.
  Status CatchUp();
  // A store on RADOS: cuts bytes [0, length) of extent `extent` into chunks
  // in pack objects now, for a commit to name (TreeEdit::PutFile), so the
  // caller need not hold its own locks while that runs.
  Result<std::unique_ptr<PendingVersion>> IngestExtent(uint32_t extent, uint64_t length);

  // The error that stopped all writes (a failed sync or background write),
  // or OK.
  Status background_error() const;
  const ChunkerParams& chunker_params() const { return chunker_->params(); }
  uint64_t map_size() const;
  const std::string& dir() const { return dir_; }

 private:
  Store() = default;
  Status OpenParts(const StoreOptions& options);
  // The commit log (FORMAT.md, "Commit log"): made on the first logged
  // commit; every read first waits for what is logged (SeeLog).
  Result<LogApplier*> Applier();
  Status SeeLog();
  // `fn` in one read transaction, after every logged commit is applied
  // (store.cc; only used there).
  template <typename Fn>
  auto Query(Fn&& fn);
  Status ApplyOrDrop(const std::string& log_id, const std::vector<LoggedCommit>& batch);
  Status ApplyLogged(const std::string& log_id, const std::vector<LoggedCommit>& batch);
  Status ReplayDeadLogs();
  Result<uint64_t> AppliedSeq(const std::string& id);
  void AwaitLiveLogs();
  void CloseLog();
  static void ApplyDeadLogsFirst(const std::string& dir, const StoreOptions& options);

  // OK, or why `what` cannot be done on a store on RADOS yet.
  Status LocalOnly(const char* what) const;

  std::string dir_;
  int lock_fd_ = -1;
  std::unique_ptr<ClusterChain> cluster_;  // a store on RADOS
  std::unique_ptr<LmdbEnv> env_;
  std::unique_ptr<PackBackend> backend_;
  std::unique_ptr<PackStore> packs_;
  std::unique_ptr<PinTable> pins_;
  std::unique_ptr<ChunkReader> chunks_;
  std::unique_ptr<NodeTreeStore> trees_;
  std::unique_ptr<SnapshotChain> chain_;
  std::unique_ptr<Refs> refs_;
  std::unique_ptr<BackgroundScheduler> background_;
  std::unique_ptr<Chunker> chunker_;
  std::unique_ptr<ExtentStore> extents_;
  void ScheduleIngest(uint32_t extent);
  std::mutex ingest_mu_;
  std::set<uint32_t> ingest_queued_;  // guarded by ingest_mu_
  std::unique_ptr<IngestJobStats> ingest_stats_;
  void ScheduleReencode();  // when background_reencode
  void QueueReencode();
  bool reencode_ = false;  // options.background_reencode
  std::mutex reencode_mu_;
  bool reencode_queued_ = false;  // guarded by reencode_mu_
  std::unique_ptr<ReencodeStats> reencode_stats_;
  std::unique_ptr<StoreParts> parts_;  // views of the parts above
  std::unique_ptr<TrainingRecords> records_ = std::make_unique<TrainingRecords>(this);
  std::mutex gc_mu_;  // one gc at a time
  std::mutex applier_mu_;
  std::shared_ptr<LogApplier> applier_;  // the commit log's, once a commit was logged
  bool shared_ = false;
  bool repair_on_open_ = true;  // no other process had the store open
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_STORE_H_
