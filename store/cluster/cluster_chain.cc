#include "store/cluster/cluster_chain.h"

#include <set>
#include <string>
#include <vector>

#include "store/base/coding.h"
#include "store/base/crash_point.h"
#include "store/base/log.h"
#include "store/cluster/commit_object.h"
#include "store/index/keys.h"
#include "store/gc.h"
#include "store/chain/branches.h"
#include "store/index/queries.h"
#include "store/ingest/pin_table.h"
#include "store/parts.h"

namespace ciuicfs {
namespace {

constexpr char kAppliedKey[] = "rados_applied";
constexpr size_t kMaxBatch = 64;      // commit objects applied in one index transaction
constexpr int kMaxAttempts = 10000;   // numbers taken by others before a commit gives up

Result<uint64_t> ReadApplied(Txn& txn) {
  auto v = txn.Get(Db::kMeta, kAppliedKey);
  if (!v.ok()) return v.status();
  if (!*v) return uint64_t{0};
  if ((*v)->size() != 8) return CorruptRow(Db::kMeta, kAppliedKey);
  return LoadLE<uint64_t>((*v)->data());
}

Status SetApplied(Txn& txn, uint64_t n) {
  std::string v;
  PutLE<uint64_t>(&v, n);
  return txn.Put(Db::kMeta, kAppliedKey, v);
}

// The mount's live tree is this node's: it does not show what other nodes
// committed since. So, against the head the commit will follow: a rename
// onto a path another node saved first removes that path (as a rename
// over a file the live tree shows does), and a removal of a path another
// node removed already is dropped. The object holds the result, so every
// node applies the same edits.
Status FitToHead(const StoreParts& parts, Txn& txn, CommitRequest* req) {
  auto head = parts.chain->Head(txn, req->branch);
  if (!head.ok()) return head.status();
  if (!*head) return Status::Ok();
  const Hash128 tree = (*head)->tree;
  std::set<std::string> touched;  // paths an earlier edit of this commit names
  std::vector<TreeEdit> edits;
  for (TreeEdit& e : req->edits) {
    const bool untouched = !touched.count(e.path);
    touched.insert(e.path);
    if (e.op == TreeEdit::Op::kRename) touched.insert(e.from);
    if (untouched && (e.op == TreeEdit::Op::kRemove || e.op == TreeEdit::Op::kRename)) {
      auto there = parts.trees->Lookup(txn, tree, e.path);
      if (!there.ok()) return there.status();
      if (e.op == TreeEdit::Op::kRemove && !*there) continue;
      if (e.op == TreeEdit::Op::kRename && *there) edits.push_back(TreeEdit::Remove(e.path));
    }
    edits.push_back(std::move(e));
  }
  req->edits = std::move(edits);
  return Status::Ok();
}

// Commit object `n` for `req` against the index as `txn` sees it: each
// fresh version becomes a carried put, with the chunk rows and the
// manifest the index lacks.
Result<CommitObject> BuildObject(const StoreParts& parts, Txn& txn, uint64_t n, const CommitRequest& req,
                                 const std::map<ChunkId, PackLocation>& pending_locs,
                                 const std::function<bool(uint32_t)>& emptied) {
  CommitObject obj;
  obj.number = n;
  obj.req = req;
  obj.req.logged = false;
  obj.req.version_ids.clear();
  CIUIC_RETURN_IF_ERROR(FitToHead(parts, txn, &obj.req));
  std::set<VersionId> versions;
  std::set<ChunkId> chunks;
  for (TreeEdit& e : obj.req.edits) {
    const PendingVersion* pv = e.pending;
    if (!pv) continue;
    e.pending = nullptr;
    e.existing = pv->id();
    e.carried = true;
    if (!versions.insert(pv->id()).second) continue;
    for (const ChunkId& id : pv->pinned()) {
      auto row = GetChunkRow(txn, id);
      if (!row.ok()) return row.status();
      if ((*row && (*row)->location.pack != kLostPack) || !chunks.insert(id).second) continue;
      auto loc = pending_locs.find(id);
      if (loc == pending_locs.end())
        return Status::Corruption("commit: chunk " + id.Hex() +
                                  " is neither indexed nor stored by this save (gc on another node collected it: "
                                  "did this node's lease lapse?); nothing committed");
      if (emptied(loc->second.pack))
        return Status::IOError("commit: chunk " + id.Hex() + " lies in a pack gc on another node emptied (this "
                               "node was taken for dead); the save failed, save again");
      obj.carried.chunks.emplace_back(id, loc->second);
    }
    auto known = txn.Get(Db::kManifests, HashKey(pv->id()));
    if (!known.ok()) return known.status();
    if (!*known) obj.carried.manifests.push_back(pv->manifest());
  }
  return obj;
}

Status ApplyRefChange(const StoreParts& parts, Txn& txn, const RefChange& c) {
  const bool one = c.seqs.size() == 1;
  switch (c.op) {
    case RefChange::Op::kSetTag:
      return one ? parts.refs->SetTag(txn, c.name, c.seqs[0]) : Status::InvalidArgument("a tag names one snapshot");
    case RefChange::Op::kDeleteTag: return parts.refs->DeleteTag(txn, c.name);
    case RefChange::Op::kCreateBranch:
      return one ? CreateBranch(txn, *parts.chain, c.name, c.seqs[0])
                 : Status::InvalidArgument("a branch starts at one snapshot");
    case RefChange::Op::kDeleteBranch: return DeleteBranchInTxn(parts, txn, c.name);
    case RefChange::Op::kDropSnapshots: return DropSnapshotsInTxn(parts, txn, c.seqs);
  }
  return Status::InvalidArgument("unknown change");
}

// What every node does with commit object `obj`, the one that made it too.
// `collected`: the chunk and pack rows a collect deleted.
Status ApplyObject(const StoreParts& parts, Txn& txn, const CommitObject& obj, Snapshot* snap,
                   std::pair<uint64_t, uint64_t>* collected = nullptr) {
  if (obj.kind == CommitObject::Kind::kRefs) return ApplyRefChange(parts, txn, obj.change);
  if (obj.kind == CommitObject::Kind::kCollect) {
    std::pair<uint64_t, uint64_t> unused;
    if (!collected) collected = &unused;
    return CollectRowsInTxn(txn, obj.collect.chunks, obj.collect.packs, &collected->first, &collected->second);
  }
  return CommitCarriedInTxn(parts, txn, obj.req, obj.carried, snap);
}

}  // namespace

ClusterChain::ClusterChain(const StoreParts* parts, std::unique_ptr<CommitObjects> objects,
                           std::unique_ptr<LeaseTable> leases, LeaseTiming timing)
    : parts_(parts), objects_(std::move(objects)), leases_(std::move(leases)), timing_(timing) {}

ClusterChain::~ClusterChain() {
  {
    std::lock_guard<std::mutex> lock(poll_mu_);
    stop_ = true;
  }
  poll_cv_.notify_all();
  if (poller_.joinable()) poller_.join();
  keeper_.reset();  // removes the lease
}

Result<uint64_t> ClusterChain::Applied() {
  return WithRead(parts_->env, [](Txn& txn) { return ReadApplied(txn); });
}

Result<uint64_t> ClusterChain::AppliedIn(Txn& txn) { return ReadApplied(txn); }

Result<Lease> ClusterChain::Holds() {
  Lease l;
  // The number first, then the pins and packs: whatever is taken after
  // this read has a since at least this number, or a pack number above
  // every one the index knows.
  // The packs appended to now before the pins: a record appended after
  // the first read is in a pack read here, or pinned as pending by the
  // second (a lane moves to a new pack only after its last append).
  auto applied = Applied();
  if (!applied.ok()) return applied.status();
  l.applied = *applied;
  std::set<uint32_t> packs;
  for (PackLane lane : {PackLane::kIngest, PackLane::kBackground})
    if (uint32_t p = parts_->packs->active_pack(lane); p != 0) packs.insert(p);
  static_assert(Lease::kNoHold == PinTable::kNoSince, "no hold reads the same in a lease and the pin table");
  l.holds_from = parts_->pins->OldestHold();
  for (uint32_t p : parts_->pins->PendingPacks()) packs.insert(p);
  l.packs_in_use.assign(packs.begin(), packs.end());
  return l;
}

Result<Lease> ClusterChain::OwnLease() {
  if (!keeper_) return Status::InvalidArgument("this node holds no lease (the store is open read-only)");
  return keeper_->Now();
}

Result<CommitObject> ClusterChain::ReadObject(uint64_t n) {
  auto bytes = objects_->Read(n);
  if (!bytes.ok()) return bytes.status();
  CommitObject obj;
  if (!DecodeCommitObject(*bytes, &obj) || obj.number != n)
    return Status::Corruption(objects_->Name(n) + " is damaged (it does not decode or fails its checksum)");
  return obj;
}

Status ClusterChain::CatchUp() {
  std::lock_guard<std::mutex> lock(mu_);
  return CatchUpLocked();
}

Status ClusterChain::CatchUpLocked() {
  for (;;) {
    auto applied = Applied();
    if (!applied.ok()) return applied.status();
    std::vector<CommitObject> batch;
    for (uint64_t n = *applied + 1; batch.size() < kMaxBatch; ++n) {
      auto obj = ReadObject(n);
      if (!obj.ok()) {
        if (obj.status().IsNotFound()) break;
        return obj.status();
      }
      batch.push_back(std::move(obj.value()));
    }
    if (batch.empty()) return Status::Ok();
    CIUIC_RETURN_IF_ERROR(parts_->env->Write([&](Txn& txn) -> Status {
      // Checked again under the write lock: another opener of this cache
      // (a read-only one cannot write; this guards the rest) never
      // applies an object twice.
      auto at = ReadApplied(txn);
      if (!at.ok()) return at.status();
      for (const CommitObject& obj : batch) {
        if (obj.number <= *at) continue;
        for (const auto& [id, loc] : obj.carried.chunks) parts_->packs->NoteTaken(loc.pack);
        Snapshot snap;
        Status s = ApplyObject(*parts_, txn, obj, &snap);
        // The node that made it applied it to the same index: a failure
        // here means the caches differ, never a commit to skip.
        if (!s.ok()) return Status::Corruption("apply " + objects_->Name(obj.number) + ": " + s.message());
      }
      return SetApplied(txn, batch.back().number);
    }));
    std::set<uint32_t> emptied;
    for (const CommitObject& obj : batch)
      if (obj.kind == CommitObject::Kind::kCollect) emptied.insert(obj.collect.packs.begin(), obj.collect.packs.end());
    if (!emptied.empty()) NoteEmptied(emptied);
    if (batch.size() < kMaxBatch) return Status::Ok();
  }
}

void ClusterChain::NoteEmptied(const std::set<uint32_t>& packs) {
  {
    std::lock_guard<std::mutex> lock(emptied_mu_);
    emptied_.insert(packs.begin(), packs.end());
  }
  // Only a node taken for dead can hold records there: its saves fail.
  for (PackLane lane : {PackLane::kIngest, PackLane::kBackground})
    if (packs.count(parts_->packs->active_pack(lane))) parts_->packs->CloseLane(lane);
  parts_->pins->MarkStaleIn(packs);
}

bool ClusterChain::Emptied(uint32_t pack) {
  std::lock_guard<std::mutex> lock(emptied_mu_);
  return emptied_.count(pack) != 0;
}

Result<std::unique_ptr<PendingVersion>> ClusterChain::IngestExtent(uint32_t extent, uint64_t length) {
  IngestSession session(parts_->chunker, parts_->pins);
  constexpr size_t kPiece = 8 << 20;
  std::string buf(std::min<uint64_t>(kPiece, length), '\0');
  for (uint64_t off = 0; off < length;) {
    const size_t n = size_t(std::min<uint64_t>(kPiece, length - off));
    CIUIC_RETURN_IF_ERROR(parts_->extents->ReadAt(extent, off, n, buf.data()));
    CIUIC_RETURN_IF_ERROR(session.Append(buf.data(), n));
    off += n;
  }
  auto pv = session.Finish();
  if (!pv.ok()) return pv.status();
  return std::make_unique<PendingVersion>(std::move(pv.value()));
}

Result<Snapshot> ClusterChain::Commit(const CommitRequest& in) {
  CIUIC_RETURN_IF_ERROR(parts_->CanWrite());
  CommitRequest req = in;
  if (req.time_ns == 0)
    req.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  // A version must need nothing of this node once its close returns: the
  // extent's bytes go into pack objects now.
  std::vector<std::unique_ptr<PendingVersion>> fresh;
  for (TreeEdit& e : req.edits) {
    if (e.extent == 0) continue;
    auto pv = IngestExtent(e.extent, e.length);
    if (!pv.ok()) return pv.status();
    fresh.push_back(std::move(pv.value()));
    e.extent = 0;
    e.length = 0;
    e.pending = fresh.back().get();
  }
  // Nothing to sync: each record's write to RADOS returned once it was
  // durable (pack/rados_backend.h), so every byte the commit will name is
  // in RADOS before the commit object exists.
  std::vector<ChunkId> pinned;
  for (const TreeEdit& e : req.edits)
    if (e.pending) pinned.insert(pinned.end(), e.pending->pinned().begin(), e.pending->pinned().end());
  // Read before the write transaction (lock order: PinTable, then LMDB);
  // the pins keep them until the commit is done.
  const std::map<ChunkId, PackLocation> locs = parts_->pins->PendingLocations(pinned);
  // A lapse of the lease marks the pins stale, then counts: the count
  // first, then the pins, and the count again under the write lock (the
  // pin table's lock is never taken inside it).
  const Status lapsed = Status::IOError(
      "this node's lease lapsed while the save was in progress (another node's gc may have collected what it held); "
      "the save failed, save again");
  const uint64_t lapses = lapses_.load();
  if (parts_->pins->AnyStale(pinned)) return lapsed;
  Snapshot snap;
  CIUIC_RETURN_IF_ERROR(Publish(
      [&](Txn& txn, uint64_t n) -> Result<CommitObject> {
        return BuildObject(*parts_, txn, n, req, locs, [this](uint32_t pack) { return Emptied(pack); });
      },
      &snap, nullptr, [&] { return lapses_.load() == lapses ? Status::Ok() : lapsed; }));
  parts_->pins->MarkIndexed(pinned);  // rows exist now
  return snap;
}

Status ClusterChain::ChangeRefs(const RefChange& change) {
  CIUIC_RETURN_IF_ERROR(parts_->CanWrite());
  Snapshot unused;
  return Publish(
      [&](Txn&, uint64_t number) -> Result<CommitObject> {
        CommitObject obj;
        obj.kind = CommitObject::Kind::kRefs;
        obj.number = number;
        obj.change = change;
        return obj;
      },
      &unused);
}

Status ClusterChain::PublishCollect(const std::function<Result<CollectChange>(Txn&, uint64_t)>& build,
                                    uint64_t* chunks, uint64_t* packs) {
  CIUIC_RETURN_IF_ERROR(parts_->CanWrite());
  std::pair<uint64_t, uint64_t> collected;
  Snapshot unused;
  CollectChange published;
  bool nothing = false;
  Status s = Publish(
      [&](Txn& txn, uint64_t number) -> Result<CommitObject> {
        auto change = build(txn, number);
        if (!change.ok()) return change.status();
        nothing = change->chunks.empty() && change->packs.empty();
        if (nothing) return Status::Busy("nothing to collect");  // no object for it
        CommitObject obj;
        obj.kind = CommitObject::Kind::kCollect;
        obj.number = number;
        obj.collect = std::move(change.value());
        published = obj.collect;
        return obj;
      },
      &unused, &collected);
  *chunks = 0;
  *packs = 0;
  if (nothing) return Status::Ok();
  CIUIC_RETURN_IF_ERROR(s);
  *chunks = collected.first;
  *packs = collected.second;
  if (!published.packs.empty()) NoteEmptied({published.packs.begin(), published.packs.end()});
  return Status::Ok();
}

Status ClusterChain::Publish(const std::function<Result<CommitObject>(Txn&, uint64_t)>& build, Snapshot* snap,
                             std::pair<uint64_t, uint64_t>* collected, const std::function<Status()>& last_check) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    CIUIC_RETURN_IF_ERROR(CatchUpLocked());
    // A lapsed lease says so before `build` looks for rows gc may have taken.
    if (keeper_) CIUIC_RETURN_IF_ERROR(keeper_->Healthy());
    bool taken = false;
    Status s = parts_->env->Write([&](Txn& txn) -> Status {
      auto applied = ReadApplied(txn);
      if (!applied.ok()) return applied.status();
      const uint64_t number = *applied + 1;
      auto obj = build(txn, number);
      if (!obj.ok()) return obj.status();
      CIUIC_RETURN_IF_ERROR(ApplyObject(*parts_, txn, *obj, snap, collected));
      CIUIC_RETURN_IF_ERROR(SetApplied(txn, number));
      // Last before the object: a node whose lease lapsed may have been
      // taken for dead, and gc may have collected what this commit names.
      if (keeper_) CIUIC_RETURN_IF_ERROR(keeper_->Healthy());
      if (last_check) CIUIC_RETURN_IF_ERROR(last_check());  // after Healthy: see LeaseKeeper::Renew
      // The object first: the index commits only once the chain has it.
      auto created = objects_->Create(number, EncodeCommitObject(*obj));
      if (!created.ok()) return created.status();
      if (!*created) {
        taken = true;
        return Status::Busy(objects_->Name(number) + " was taken by another node");
      }
      CrashPoint("cluster.after_create");
      return Status::Ok();
    });
    if (!taken) return s;  // else apply theirs, then try the next number
  }
  return Status::Busy("commit: other nodes kept taking the next commit number");
}

Status ClusterChain::Start(std::chrono::milliseconds every) {
  parts_->pins->SetShared([](Txn& txn) { return ReadApplied(txn); });
  if (leases_) {
    auto keeper = std::make_unique<LeaseKeeper>(leases_.get(), [this] { return Holds(); }, timing_, [this] {
      // What the node held through the lapse may be gone: saves holding it
      // fail at their commit, and new records go to new packs.
      parts_->packs->CloseLane(PackLane::kIngest);
      parts_->packs->CloseLane(PackLane::kBackground);
      parts_->pins->MarkAllStale();
      ++lapses_;
    });
    CIUIC_RETURN_IF_ERROR(keeper->Start());
    keeper_ = std::move(keeper);
  }
  poller_ = std::thread([this, every] {
    std::string last_error;
    std::unique_lock<std::mutex> lock(poll_mu_);
    while (!poll_cv_.wait_for(lock, every, [this] { return stop_; })) {
      lock.unlock();
      Status s = CatchUp();
      if (!s.ok() && s.message() != last_error) LogLine("catching up with the shared chain: " + s.message());
      last_error = s.ok() ? std::string() : s.message();
      lock.lock();
    }
  });
  return Status::Ok();
}

}  // namespace ciuicfs
