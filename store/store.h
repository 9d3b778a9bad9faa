// Store: the deduplicated, versioned chunk store that backs a ciuicfs mount.
//
// One Store object owns one store directory (FORMAT.md "Directory layout")
// and holds its LOCK for its lifetime, so exactly one process has a store
// open. Every method is thread-safe. Typical use:
//
//   auto store = Store::Open(dir, {});
//   auto ingest = (*store)->NewIngest();
//   ingest->Append(buf, n);  ...                // pieces of any size
//   auto version = ingest->Finish();            // chunks stored, not yet visible
//   CommitRequest req;
//   req.edits.push_back(TreeEdit::PutFile("model.pt", 0644, mtime, &*version));
//   auto snap = (*store)->Commit(req);          // one LMDB transaction
//
// Reads never hold an LMDB transaction across calls.
#ifndef CIUICFS_STORE_STORE_H_
#define CIUICFS_STORE_STORE_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "store/chunk_id.h"
#include "store/chunker.h"
#include "store/records.h"
#include "store/status.h"

namespace ciuicfs {

class LmdbEnv;
class PackStore;
class Store;
class Txn;

struct StoreOptions {
  // Used only when the store is created; an existing store keeps its own.
  ChunkerParams chunker;
  uint64_t initial_map_size = 64ull << 20;
  uint64_t pack_target_size = 128ull << 20;
  bool create_if_missing = true;
  // Open an existing store without its lock while another process (a
  // mount) may be writing it: every query works, every change is ReadOnly.
  bool read_only = false;
};

// A finished ingest: its chunks are in packs and pinned, its manifest is in
// memory. It becomes visible when a Commit names it; dropping it uncommitted
// releases the pins (the bytes become garbage for gc).
class PendingVersion {
 public:
  PendingVersion(PendingVersion&&) noexcept;
  PendingVersion& operator=(PendingVersion&&) noexcept;
  ~PendingVersion();
  const Manifest& manifest() const { return manifest_; }
  const VersionId& id() const { return manifest_.id; }
  uint64_t size() const { return manifest_.size; }
  // Record bytes (headers + payloads) this ingest appended to packs.
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  friend class IngestSession;
  friend class Store;
  PendingVersion() = default;
  void Release();
  Store* store_ = nullptr;
  Manifest manifest_;
  std::vector<ChunkId> pins_;  // distinct chunk ids this version pins
  uint64_t bytes_written_ = 0;
};

// Streams one file version into the store. Owned by one thread.
//
// Two stages: Append copies the bytes into the chunker's buffers and finds
// chunk boundaries on the caller's thread; a worker thread started with the
// first chunk hashes each chunk, looks it up and appends new ones to a pack,
// in order. At most kMaxQueuedBytes wait between the stages.
class IngestSession {
 public:
  ~IngestSession();
  Status Append(const void* data, size_t n);
  Result<PendingVersion> Finish();

 private:
  friend class Store;
  struct Work {
    const uint8_t* data;
    size_t n;
    std::shared_ptr<const void> keep;
  };
  static constexpr size_t kMaxQueuedBytes = 32 << 20;

  explicit IngestSession(Store* store);
  Status OnChunk(const uint8_t* data, size_t n, std::shared_ptr<const void> keep);
  Status StoreChunk(const uint8_t* data, size_t n);
  void WorkerLoop();
  Status StopWorker();

  Store* store_;
  StreamChunker chunker_;
  Hasher hasher_;  // whole-content hash; worker-owned while it runs
  PendingVersion pending_;
  std::unordered_set<ChunkId, Hash128Hasher> seen_;
  bool finished_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Work> queue_;      // guarded by mu_
  size_t queued_bytes_ = 0;     // guarded by mu_
  bool closing_ = false;        // guarded by mu_
  Status worker_status_;        // guarded by mu_
  std::thread worker_;
};

// One change to the live tree inside a commit.
struct TreeEdit {
  enum class Op { kPutFile, kPutDirectory, kPutSymlink, kRemove };
  Op op = Op::kPutFile;
  std::string path;
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
};

struct CommitRequest {
  std::vector<TreeEdit> edits;
  std::optional<int64_t> step;  // unset: the head's step (0 for the first)
  int64_t time_ns = 0;          // 0: now
  bool durable = false;         // survive power loss, not only a process kill
};

// Reads one version. Not thread-safe: one reader per thread, or a lock.
class VersionReader {
 public:
  uint64_t size() const { return manifest_.size; }
  const Manifest& manifest() const { return manifest_; }
  // Reads up to `n` bytes at `offset`; returns how many (0 at or past the
  // end). Every chunk is verified; a bad one is Corruption, never bytes.
  Result<size_t> Read(uint64_t offset, size_t n, char* dst);

 private:
  friend class Store;
  VersionReader(Store* store, Manifest m) : store_(store), manifest_(std::move(m)) {}
  Store* store_;
  Manifest manifest_;
  size_t cached_index_ = SIZE_MAX;
  std::string cached_;
};

struct GcOptions {
  double compact_below = 0.5;  // rewrite packs whose live fraction is below this
};

struct GcStats {
  uint64_t chunks_deleted = 0;
  uint64_t packs_compacted = 0;
  uint64_t packs_deleted = 0;
  uint64_t bytes_before = 0;  // pack file bytes
  uint64_t bytes_after = 0;
};

struct VerifyReport {
  uint64_t snapshots = 0, versions = 0, chunks = 0, packs = 0;
  std::vector<std::string> problems;  // one line each, naming chunk, pack and files
  bool ok() const { return problems.empty(); }
};

struct StoreStats {
  uint64_t snapshots = 0;
  uint64_t versions = 0;      // manifests
  uint64_t chunks = 0;        // index rows
  uint64_t pack_files = 0;
  uint64_t stored_bytes = 0;  // sum of pack file sizes
  uint64_t live_bytes = 0;    // record bytes the index points at
};

class Store {
 public:
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, const StoreOptions& options);
  ~Store();

  std::unique_ptr<IngestSession> NewIngest();
  Result<Snapshot> Commit(const CommitRequest& req);
  // Makes everything committed so far survive power loss.
  Status Sync();

  // The chain. Head is nullopt for an empty store.
  Result<std::optional<Snapshot>> Head();
  Result<Snapshot> GetSnapshot(uint64_t seq);
  Result<std::vector<Snapshot>> ListSnapshots();  // oldest first
  // Newest snapshot with this step.
  Result<Snapshot> FindByStep(int64_t step);
  // The one snapshot whose hex id starts with `prefix` (>= 8 hex digits);
  // NotFound when none, InvalidArgument when several match.
  Result<Snapshot> FindByIdPrefix(std::string_view prefix);
  Result<Tree> GetTree(const Hash128& tree_id);
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
  // head in the retained chain), "step-N", a tag, or an id prefix (>= 8 hex).
  Result<Snapshot> ResolveRef(const std::string& ref);

  // Removes snapshots from the retained set (never the head) and releases
  // what only they referenced. Bytes are reclaimed by Gc.
  Status DropSnapshots(const std::vector<uint64_t>& seqs);
  Result<GcStats> Gc(const GcOptions& options);
  // `progress`, when set, is called now and then with the chunk bytes
  // checked so far and the total to check.
  Result<VerifyReport> Verify(const std::function<void(uint64_t done, uint64_t total)>& progress = nullptr);
  Result<StoreStats> Stats();

  const ChunkerParams& chunker_params() const { return chunker_->params(); }
  uint64_t map_size() const;
  const std::string& dir() const { return dir_; }

 private:
  friend class IngestSession;
  friend class PendingVersion;
  friend class VersionReader;

  struct Pin {
    uint32_t count = 0;
    bool pending = false;  // bytes in a pack, no index row yet
    PackLocation location;
  };

  Store(std::string dir, int lock_fd);
  Status Recover();
  // Pins `id`, storing `data` as a new record unless the index or another
  // ingest already has it. Returns the record bytes appended (0 if none).
  Result<uint64_t> PinOrStore(const ChunkId& id, const uint8_t* data, size_t n);
  void Unpin(const std::vector<ChunkId>& ids);
  Status CommitInTxn(Txn& txn, const CommitRequest& req, const std::map<ChunkId, PackLocation>& pending_locs,
                     const std::map<uint32_t, uint64_t>& synced, Snapshot* out);
  Status ReleaseTree(Txn& txn, const Hash128& tree_id);
  Status CompactPack(uint32_t pack, GcStats* stats);

  const std::string dir_;
  int lock_fd_;
  std::unique_ptr<LmdbEnv> env_;
  std::unique_ptr<PackStore> packs_;
  std::unique_ptr<Chunker> chunker_;
  uint64_t pack_target_size_ = 0;
  bool read_only_ = false;

  std::mutex pins_mu_;  // taken before any LMDB transaction it encloses
  std::unordered_map<ChunkId, Pin, Hash128Hasher> pins_;
  std::mutex gc_mu_;  // one gc at a time
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_STORE_H_
