// The facade: Open wires the parts together; every other method opens at
// most one read transaction and forwards to the part that owns the job.
#include "store/store.h"

#include <unistd.h>


#include "store/background/scheduler.h"
#include "store/extent/extent_store.h"
#include "store/encode/reencode_job.h"
#include "store/extent/ingest_job.h"
#include "store/chain/branches.h"
#include "store/chain/refs.h"
#include "store/chain/snapshot_chain.h"
#include "store/cluster/cluster_chain.h"
#include "store/cluster/rados_open.h"
#include "store/cluster/shared_gc.h"
#include "store/index/lmdb_env.h"
#include "store/index/queries.h"
#include "store/journal/log_applier.h"
#include "store/open.h"
#include "store/parts.h"
#include "store/pack/backend.h"
#include "store/pack/pack_store.h"
#include "store/recovery.h"
#include "store/tree/node_tree.h"
#include "store/upgrade.h"

namespace ciuicfs {

// store_encode.cc
Status AddEncodingStats(Txn& txn, StoreStats* st);
Result<uint64_t> WaitingBytes(Txn& txn);

namespace {

Result<BackgroundWork> WaitingIn(Txn& txn) {
  BackgroundWork w;
  auto extents = LoadExtentRows(txn);
  if (!extents.ok()) return extents.status();
  for (auto& [e, row] : *extents) {
    w.ingest_versions += row.versions.size();
    w.ingest_bytes += row.max_length();
  }
  auto reencode = WaitingBytes(txn);
  if (!reencode.ok()) return reencode.status();
  w.reencode_bytes = *reencode;
  return w;
}

}  // namespace

template <typename Fn>
auto Store::Query(Fn&& fn) {
  (void)SeeLog();  // reads go on after a failed application: it is the writers' error
  return WithRead(env_.get(), std::forward<Fn>(fn));
}

Status StoreParts::CanWrite() const {
  if (read_only) return Status::ReadOnly("the store is open read-only (it is in use by a mount)");
  return background->error();
}

Status StoreParts::NoteSyncResult(Status s) const {
  if (!s.ok() && s.code() != Status::Code::kReadOnly) background->SetError(s);
  return s;
}

Store::~Store() {
  cluster_.reset();  // stops its polling
  if (env_) CloseLog();
  if (background_) background_->Stop();
  // First the chunk reader: its read-ahead threads finish the reads still
  // queued (a reader may have dropped them), which use the parts below.
  chunks_.reset();
  extents_.reset();
  parts_.reset();
  pins_.reset();
  packs_.reset();
  backend_.reset();
  env_.reset();
  if (lock_fd_ >= 0) UnlockStore(lock_fd_);  // releases the lock
}

uint64_t Store::map_size() const { return env_->map_size(); }

Result<std::unique_ptr<Store>> Store::Open(const std::string& location, const StoreOptions& options) {
  CIUIC_RETURN_IF_ERROR(options.chunker.Validate());
  auto uri = ParseStoreUri(location);
  if (!uri.ok()) return uri.status();
  const bool rados = uri->scheme == StoreUri::Scheme::kRados;
  if (rados && options.cache_dir.empty())
    return Status::InvalidArgument("store " + location + ": a store on RADOS needs a cache directory (--cache DIR)");
  const std::string dir = rados ? options.cache_dir : uri->path;
  std::unique_ptr<PackBackend> backend;
  if (!rados) {
    auto local = OpenPackBackend(*uri);  // no I/O yet
    if (!local.ok()) return local.status();
    backend = std::move(local.value());
  }
  std::unique_ptr<Store> store(new Store());
  store->dir_ = dir;
  store->parts_ = std::make_unique<StoreParts>();
  store->parts_->dir = dir;
  store->parts_->read_only = options.read_only;
  const bool existed = access((dir + "/CIUICFS-STORE").c_str(), F_OK) == 0;
  // A store on RADOS, named here or by the cache directory's RADOS file;
  // connected before the cache directory is made, so a mistyped pool or
  // configuration leaves nothing behind.
  auto attached = AttachRadosStore(
      RadosOpen{dir, location, rados, existed, options.read_only, options.ceph_conf, options.ceph_user});
  if (!attached.ok()) return attached.status();
  std::string cache_of;
  if (*attached) {
    backend = std::move((*attached)->parts.packs);
    cache_of = (*attached)->cache.uri;
    LeaseTiming timing{options.lease_renew, options.lease_grace};
    store->cluster_ = std::make_unique<ClusterChain>(store->parts_.get(), std::move((*attached)->parts.commits),
                                                     std::move((*attached)->parts.leases), timing);
  }
  uint32_t marker_format = 0;
  CIUIC_RETURN_IF_ERROR(PrepareStoreDir(dir, options.create_if_missing && !options.read_only, &marker_format));
  if (marker_format == 1 && (!options.upgrade || options.read_only))
    return Status::InvalidArgument("store " + dir +
                                   " has format 1 (a whole tree per snapshot); this ciuicfs uses format 2: convert it "
                                   "with `ciuicfs upgrade " + dir + "` (not while it is mounted)");
  if (options.read_only) ApplyDeadLogsFirst(dir, options);
  bool alone = true;
  if (!options.read_only) {
    // A cache of a store on RADOS has one writer: one catch-up at a time.
    const bool shared = options.shared && !options.upgrade && !store->cluster_;
    auto fd = shared ? LockStoreShared(dir, &alone) : LockStore(dir);
    if (!fd.ok() && fd.status().code() == Status::Code::kBusy && store->cluster_)
      return Status::Busy("cache " + dir + " of " + cache_of + " is in use by another process (give another --cache)");
    if (!fd.ok()) return fd.status();
    store->lock_fd_ = *fd;
    store->shared_ = shared;
  }
  store->repair_on_open_ = alone;
  store->backend_ = std::move(backend);
  if (options.wrap_pack_backend) store->backend_ = options.wrap_pack_backend(std::move(store->backend_));
  CIUIC_RETURN_IF_ERROR(store->OpenParts(options));
  if (marker_format == 1) CIUIC_RETURN_IF_ERROR(WriteMarker(dir));  // the index says 2 by now
  if (store->cluster_ && !options.read_only) {
    CIUIC_RETURN_IF_ERROR(store->cluster_->CatchUp());
    CIUIC_RETURN_IF_ERROR(store->cluster_->Start(std::chrono::milliseconds(500)));
  }
  if (store->shared_ && alone) CIUIC_RETURN_IF_ERROR(ShareLock(store->lock_fd_));  // repaired: let the others in
  return store;
}

Result<std::unique_ptr<PendingVersion>> Store::IngestExtent(uint32_t extent, uint64_t length) {
  CIUIC_RETURN_IF_ERROR(parts_->CanWrite());
  if (!cluster_) return Status::InvalidArgument("a local store ingests extents in the background");
  return cluster_->IngestExtent(extent, length);
}

Status Store::CatchUp() { return cluster_ && !parts_->read_only ? cluster_->CatchUp() : Status::Ok(); }

Status Store::LocalOnly(const char* what) const {
  if (!cluster_) return Status::Ok();
  return Status::InvalidArgument(std::string(what) +
                                 " is not possible on a store on RADOS yet (a rewrite of stored records needs a commit "
                                 "that moves them, applied by every node; gc works)");
}

Status Store::OpenParts(const StoreOptions& options) {
  auto env = LmdbEnv::Open(parts_->dir + "/index", options.initial_map_size, options.read_only);
  if (!env.ok()) return env.status();
  env_ = std::move(env.value());
  ChunkerParams params;
  uint32_t format = 0;
  CIUIC_RETURN_IF_ERROR(ReadOrInitMeta(env_.get(), options.chunker, options.read_only, &params, &format));
  trees_ = std::make_unique<NodeTreeStore>();
  if (format == 1) {
    if (!options.upgrade || options.read_only)
      return Status::InvalidArgument("store " + parts_->dir + " has a format 1 index; convert it with `ciuicfs upgrade " +
                                     parts_->dir + "`");
    CIUIC_RETURN_IF_ERROR(env_->Write([&](Txn& txn) { return ConvertFormat1(txn, trees_.get(), options.upgrade_progress); }));
    CIUIC_RETURN_IF_ERROR(env_->Sync());
  }
  chunker_ = std::make_unique<Chunker>(params);
  uint32_t next_pack = 0;
  if (!options.read_only) {
    PackStore scanner(backend_.get(), 0, options.pack_target_size);
    // Packs on RADOS are other nodes' too, written as this one opens.
    auto next = RecoverPacks(env_.get(), &scanner, repair_on_open_ && !cluster_);
    if (!next.ok()) return next.status();
    next_pack = *next;
  }
  // A RADOS object holds at most 128 MiB.
  const uint64_t target = cluster_ ? std::min<uint64_t>(options.pack_target_size, 64ull << 20) : options.pack_target_size;
  packs_ = std::make_unique<PackStore>(backend_.get(), next_pack, target);
  background_ = std::make_unique<BackgroundScheduler>();
  parts_->env = env_.get();
  parts_->backend = backend_.get();
  parts_->packs = packs_.get();
  parts_->background = background_.get();
  pins_ = std::make_unique<PinTable>(env_.get(), packs_.get(), [this] { return parts_->CanWrite(); });
  chunks_ = std::make_unique<ChunkReader>(env_.get(), packs_.get(), pins_.get());
  chain_ = std::make_unique<SnapshotChain>();
  refs_ = std::make_unique<Refs>(chain_.get());
  parts_->pins = pins_.get();
  parts_->chunks = chunks_.get();
  parts_->trees = trees_.get();
  parts_->chain = chain_.get();
  parts_->refs = refs_.get();
  parts_->chunker = chunker_.get();
  parts_->shared_now = [this] { return shared_ && OthersHoldLock(lock_fd_); };
  parts_->see_log = [this] { return SeeLog(); };
  // Extents: the highest number any row lists, the files, the backlog.
  auto listed = WithRead(env_.get(), [](Txn& txn) { return LoadExtentRows(txn); });
  if (!listed.ok()) return listed.status();
  std::map<uint32_t, ExtentRow> rows = std::move(listed.value());
  extents_ = std::make_unique<ExtentStore>(parts_->dir);
  packs_->SetExtentReader(
      [this](uint32_t e, uint64_t off, size_t n, char* dst) { return extents_->ReadAt(e, off, n, dst); });
  packs_->SetBaseLocator([this](const ChunkId& id) { return LocateChunk(env_.get(), id); });
  CIUIC_RETURN_IF_ERROR(extents_->Open(rows.empty() ? 0 : rows.rbegin()->first, options.read_only));
  parts_->extents = extents_.get();
  ingest_stats_ = std::make_unique<IngestJobStats>();
  reencode_stats_ = std::make_unique<ReencodeStats>();
  reencode_ = options.background_reencode && !options.read_only && !cluster_;
  if (options.read_only) {
    AwaitLiveLogs();
    return Status::Ok();
  }
  // On RADOS a save's close ingests its extent (cluster/cluster_chain.h).
  if (!cluster_) extents_->SetOnSealed([this](uint32_t e) { ScheduleIngest(e); });
  // What dead processes logged, before any extent is taken as unlisted.
  CIUIC_RETURN_IF_ERROR(ReplayDeadLogs());
  listed = WithRead(env_.get(), [](Txn& txn) { return LoadExtentRows(txn); });
  if (!listed.ok()) return listed.status();
  rows = std::move(listed.value());
  if (!repair_on_open_) return Status::Ok();  // another process may be writing the unlisted ones
  auto removed = extents_->RemoveUnlisted([&]() -> Result<std::set<uint32_t>> {
    std::set<uint32_t> listed;
    for (auto& [e, row] : rows) listed.insert(e);
    return listed;
  });
  if (!removed.ok()) return removed.status();
  for (auto& [e, row] : rows) {
    if (row.versions.empty()) continue;
    extents_->NoteCommitted(e);  // a durable commit or Sync syncs it too
    ScheduleIngest(e);           // a backlog left by the last process
  }
  return Status::Ok();
}

void Store::ScheduleIngest(uint32_t extent) {
  {
    std::lock_guard<std::mutex> lock(ingest_mu_);
    if (!ingest_queued_.insert(extent).second) return;
  }
  background_->Schedule(std::make_unique<IngestExtentJob>(*parts_, extent, ingest_stats_.get(), [this, extent] {
    std::lock_guard<std::mutex> lock(ingest_mu_);
    ingest_queued_.erase(extent);
  }));
  ScheduleReencode();  // after the ingest, in the scheduler's order
}

Result<std::unique_ptr<ExtentWriter>> Store::NewExtent() {
  CIUIC_RETURN_IF_ERROR(parts_->CanWrite());
  return extents_->Create();
}

Status Store::MoveExtentVersions(uint32_t from, ExtentWriter* to) {
  CIUIC_RETURN_IF_ERROR(SeeLog());
  CIUIC_RETURN_IF_ERROR(parts_->CanWrite());
  auto found = WithRead(env_.get(), [&](Txn& txn) { return GetExtentRow(txn, from); });
  if (!found.ok()) return found.status();
  const std::optional<ExtentRow>& row = *found;
  if (!row || row->versions.empty()) return Status::Ok();
  CIUIC_RETURN_IF_ERROR(extents_->CopyInto(from, to->fd(), row->max_length()));
  CIUIC_RETURN_IF_ERROR(parts_->NoteSyncResult(extents_->SyncCommitted({to->number()})));
  CIUIC_RETURN_IF_ERROR(env_->Write([&](Txn& txn) { return MoveExtentRows(txn, from, to->number()); }));
  extents_->NoteCommitted(to->number());
  return parts_->NoteSyncResult(env_->Sync());
}

Status Store::DrainIngest() {
  CIUIC_RETURN_IF_ERROR(SeeLog());
  size_t before = SIZE_MAX;
  for (;;) {
    auto listed = WithRead(env_.get(), [](Txn& txn) { return LoadExtentRows(txn); });
    if (!listed.ok()) return listed.status();
    std::map<uint32_t, ExtentRow> rows = std::move(listed.value());
    std::vector<std::future<Status>> jobs;
    std::erase_if(rows, [](const auto& r) { return r.second.versions.empty(); });  // ingested: chunks kept in place
    if (shared_) {  // another mount may still be writing its own extents: only ours
      const std::set<uint32_t> ours = extents_->committed_here();
      std::erase_if(rows, [&](const auto& r) { return !ours.count(r.first); });
    }
    for (auto& [e, row] : rows)
      if (!extents_->IsWriting(e))
        jobs.push_back(background_->Schedule(std::make_unique<IngestExtentJob>(*parts_, e, ingest_stats_.get())));
    if (jobs.empty() || rows.size() >= before) return Status::Ok();  // done, or only lost ones left
    before = rows.size();
    for (auto& j : jobs) CIUIC_RETURN_IF_ERROR(j.get());
  }
}

std::unique_ptr<IngestSession> Store::NewIngest() {
  return std::make_unique<IngestSession>(chunker_.get(), pins_.get());
}

Status Store::Sync() {
  CIUIC_RETURN_IF_ERROR(SeeLog());
  if (parts_->read_only) return Status::Ok();  // nothing of ours to sync
  CIUIC_RETURN_IF_ERROR(parts_->CanWrite());
  CIUIC_RETURN_IF_ERROR(parts_->NoteSyncResult(extents_->SyncCommitted({})));
  std::map<uint32_t, uint64_t> synced;
  CIUIC_RETURN_IF_ERROR(parts_->NoteSyncResult(packs_->SyncAll(&synced)));
  if (!synced.empty()) {
    CIUIC_RETURN_IF_ERROR(env_->Write([&](Txn& txn) -> Status {
      for (auto& [pack, end] : synced) {
        auto row = GetPackRow(txn, pack);
        if (!row.ok()) return row.status();
        if (!*row) continue;  // synced, but nothing of it indexed yet
        PackRow r = **row;
        r.NoteSynced(end);
        CIUIC_RETURN_IF_ERROR(PutPackRow(txn, pack, r));
      }
      return Status::Ok();
    }));
  }
  return parts_->NoteSyncResult(env_->Sync());
}

Result<std::optional<Snapshot>> Store::Head(const std::string& branch) {
  return Query([&](Txn& txn) { return chain_->Head(txn, branch); });
}

Result<Snapshot> Store::GetSnapshot(uint64_t seq) {
  return Query([&](Txn& txn) { return chain_->Get(txn, seq); });
}

Result<std::vector<Snapshot>> Store::ListSnapshots() {
  return Query([&](Txn& txn) { return chain_->List(txn); });
}

Result<std::vector<Snapshot>> Store::BranchLine(const std::string& branch) {
  return Query([&](Txn& txn) { return chain_->Line(txn, branch); });
}

Result<Snapshot> Store::FindByStep(int64_t step, const std::string& branch) {
  return Query([&](Txn& txn) { return chain_->FindByStep(txn, step, branch); });
}

Result<Snapshot> Store::FindByIdPrefix(std::string_view prefix) {
  return Query([&](Txn& txn) { return chain_->FindByIdPrefix(txn, prefix); });
}

Result<Tree> Store::GetTree(const Hash128& tree_id) {
  return Query([&](Txn& txn) { return trees_->Load(txn, tree_id); });
}

Result<std::optional<TreeEntry>> Store::LookupInTree(const Hash128& tree_id, std::string_view path) {
  return Query([&](Txn& txn) { return trees_->Lookup(txn, tree_id, path); });
}

Result<std::vector<TreeEntry>> Store::ListTreeDir(const Hash128& tree_id, std::string_view dir) {
  return Query([&](Txn& txn) { return trees_->List(txn, tree_id, dir); });
}

Result<Manifest> Store::GetManifest(const VersionId& id) {
  return Query([&](Txn& txn) { return LoadManifest(txn, id, nullptr); });
}

Result<std::vector<std::pair<uint64_t, Change>>> Store::PathHistory(std::string_view path) {
  return Query([&](Txn& txn) { return chain_->PathHistory(txn, path); });
}

Result<std::unique_ptr<VersionReader>> Store::OpenVersion(const VersionId& id) {
  for (int attempt = 0;; ++attempt) {
    auto m = GetManifest(id);
    if (!m.ok()) return m.status();
    if (m->extent == 0) return std::make_unique<VersionReader>(chunks_.get(), std::move(m.value()));
    auto fd = extents_->OpenVersionReader(m->extent);
    // Gone: ingested and removed since the manifest was read; read again.
    if (!fd.ok() && fd.status().IsNotFound() && attempt < 3) continue;
    if (!fd.ok()) return fd.status().IsNotFound() ? Status::Corruption("version " + id.Hex() + ": its extent " +
                                                                       extents_->Name(m->extent) + " is missing (lost)")
                                                  : fd.status();
    // The file is that extent only if a row still named it once it was
    // open (a number freed by ingest may be taken again by another process).
    auto again = GetManifest(id);
    if (!again.ok()) return again.status();
    if (again->extent != m->extent) {
      if (attempt < 3) continue;
      return Status::IOError("version " + id.Hex() + " keeps moving; try again");
    }
    return std::make_unique<VersionReader>(std::move(fd.value()), std::move(m.value()));
  }
}

std::unique_ptr<VersionReader> Store::OpenPending(const PendingVersion& version) {
  return std::make_unique<VersionReader>(chunks_.get(), version.manifest());
}

Status Store::ReadChunk(const ChunkId& id, std::string* out) { return chunks_->Read(id, out); }

Result<std::map<std::string, uint64_t>> Store::Tags() {
  return Query([&](Txn& txn) { return refs_->Tags(txn); });
}

Result<std::map<std::string, uint64_t>> Store::Branches() {
  return Query([&](Txn& txn) { return ListBranches(txn); });
}

Result<Snapshot> Store::ResolveRef(const std::string& ref, const std::string& branch) {
  if (auto best = records_->ResolveBest(ref, branch)) return std::move(*best);
  return Query([&](Txn& txn) { return refs_->Resolve(txn, ref, branch); });
}

Result<GcStats> Store::Gc(const GcOptions& options, const std::function<void(uint64_t, uint64_t)>& progress) {
  CIUIC_RETURN_IF_ERROR(SeeLog());
  std::lock_guard<std::mutex> lock(gc_mu_);
  if (cluster_) return SharedGc(parts_.get(), cluster_.get()).Run(options);
  if (!shared_) return CollectGarbage(*parts_, options, progress);
  // Pins live in each process's memory: gc only while no other process
  // could be saving.
  if (!TryExclusive(lock_fd_))
    return Status::Busy("another process (a mount of another branch) is writing this store; gc runs when it is the only one");
  // A mount killed with commits still in its log: they name extents gc
  // would take as unlisted.
  Status replayed = ReplayDeadLogs();
  auto stats = replayed.ok() ? CollectGarbage(*parts_, options, progress) : Result<GcStats>(replayed);
  Status shared = ShareLock(lock_fd_);
  if (!stats.ok()) return stats;
  if (!shared.ok()) return shared;
  return stats;
}

Result<VerifyReport> Store::Verify(const std::function<void(uint64_t, uint64_t)>& progress) {
  (void)SeeLog();
  return VerifyStore(*parts_, progress);
}

Status Store::background_error() const { return background_->error(); }

Result<BackgroundWork> Store::Waiting() {
  return Query([](Txn& txn) { return WaitingIn(txn); });
}

Result<StoreStats> Store::Stats() {
  (void)SeeLog();
  StoreStats st;
  std::vector<uint32_t> packs;
  {
    auto txn = env_->BeginRead();
    if (!txn.ok()) return txn.status();
    auto count = [&](Db db, uint64_t* n) {
      return (*txn)->Scan(db, "", [&](std::string_view, std::string_view) {
        ++*n;
        return true;
      });
    };
    CIUIC_RETURN_IF_ERROR(count(Db::kSnapshots, &st.snapshots));
    CIUIC_RETURN_IF_ERROR(count(Db::kManifests, &st.versions));
    CIUIC_RETURN_IF_ERROR(count(Db::kChunks, &st.chunks));
    auto rows = LoadPackRows(**txn);
    if (!rows.ok()) return rows.status();
    for (auto& [pack, row] : *rows) {
      packs.push_back(pack);
      st.live_bytes += row.live_bytes;
    }
    CIUIC_RETURN_IF_ERROR(AddEncodingStats(**txn, &st));
    auto waiting = WaitingIn(**txn);
    if (!waiting.ok()) return waiting.status();
    st.backlog_versions = waiting->ingest_versions;
    st.backlog_bytes = waiting->ingest_bytes;
    st.reencode_waiting_bytes = waiting->reencode_bytes;
  }
  auto files = extents_->List();
  if (!files.ok()) return files.status();
  for (uint32_t e : *files) {
    auto size = extents_->AllocatedSize(e);  // punched ranges take no space
    if (!size.ok()) continue;  // removed meanwhile
    ++st.extent_files;
    st.extent_bytes += *size;
  }
  for (uint32_t pack : packs) {
    auto size = packs_->FileSize(pack);
    if (size.ok()) {
      st.stored_bytes += *size;
      ++st.pack_files;
    }
  }
  return st;
}

}  // namespace ciuicfs
