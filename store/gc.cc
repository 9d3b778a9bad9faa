#include "store/gc.h"
#include "store/commit.h"
#include "store/chain/branches.h"
#include "store/parts.h"

#include <map>
#include <set>

#include "store/background/compact_job.h"
#include "store/index/queries.h"

namespace ciuicfs {

uint64_t StoredPackBytes(const StoreParts& parts) {
  uint64_t total = 0;
  auto files = parts.packs->ListFiles();
  if (files.ok())
    for (uint32_t p : *files) {
      auto size = parts.packs->FileSize(p);
      if (size.ok()) total += *size;
    }
  return total;
}

namespace {

// Chunk rows with refcount 0, found without any lock: a read transaction.
Result<std::vector<ChunkId>> UnreferencedChunks(const StoreParts& parts) {
  return WithRead(parts.env, [](Txn& txn) { return UnreferencedChunksInTxn(txn); });
}

// Deletes the candidates that are still unreferenced and that `keep` does
// not keep, inside `txn`. Chunks kept in extents whose rows it deleted go
// into `*punch`: their ranges hold no live bytes from then on.
Status DeleteUnreferencedInTxn(Txn& txn, const std::vector<ChunkId>& candidates,
                               const std::function<bool(const ChunkId&)>& keep, uint64_t* deleted,
                               std::vector<PackLocation>* punch, bool* released_bases) {
  *deleted = 0;
  *released_bases = false;
  punch->clear();
  auto rows = LoadPackRows(txn);
  if (!rows.ok()) return rows.status();
  std::set<uint32_t> touched;
  std::map<uint32_t, PackDelta> in_extents;  // extent (as its pack number) -> what left it
  for (const ChunkId& id : candidates) {
    auto row = GetChunkRow(txn, id);
    if (!row.ok()) return row.status();
    if (!*row || (*row)->refcount != 0 || keep(id)) continue;
    CIUIC_RETURN_IF_ERROR(txn.Del(Db::kChunks, HashKey(id)));
    ++*deleted;
    // A delta gives back what it held on its bases; a base left
    // unreferenced goes in the next pass.
    for (const DeltaBase& b : (*row)->bases) {
      auto base = GetChunkRow(txn, b.id);
      if (!base.ok()) return base.status();
      if (!*base) continue;
      ChunkRow r = **base;
      r.refcount = r.refcount > 0 ? r.refcount - 1 : 0;
      r.dependents = r.dependents > 0 ? r.dependents - 1 : 0;
      CIUIC_RETURN_IF_ERROR(PutChunkRow(txn, b.id, r));
      *released_bases = true;
    }
    const PackLocation& loc = (*row)->location;
    if (loc.in_extent()) {
      PackDelta& d = in_extents[loc.pack];  // kExtentPackFlag | E, as TakeFromPackRows reads it
      d.bytes += loc.record_bytes();
      d.records += 1;
      punch->push_back(loc);
      continue;
    }
    if (loc.pack == kLostPack || !rows->count(loc.pack)) continue;
    PackRow& pr = (*rows)[loc.pack];
    pr.live_bytes = pr.live_bytes > loc.record_bytes() ? pr.live_bytes - loc.record_bytes() : 0;
    pr.live_records = pr.live_records > 0 ? pr.live_records - 1 : 0;
    touched.insert(loc.pack);
  }
  for (uint32_t pack : touched) CIUIC_RETURN_IF_ERROR(PutPackRow(txn, pack, (*rows)[pack]));
  return TakeFromPackRows(txn, in_extents);
}

// Deletes the candidates that are still unreferenced and unpinned, in one
// short transaction during which no ingest can pin one of them.
Status DeleteChunkRows(const StoreParts& parts, const std::vector<ChunkId>& candidates, uint64_t* deleted,
                       std::vector<PackLocation>* punch, bool* released_bases) {
  return parts.pins->LockForDelete([&](const std::function<bool(const ChunkId&)>& pinned) {
    return parts.env->Write(
        [&](Txn& txn) { return DeleteUnreferencedInTxn(txn, candidates, pinned, deleted, punch, released_bases); });
  });
}

// Drops one snapshot and releases its tree (the tree's nodes, versions and
// chunks lose the references it held).
Status DropOne(const StoreParts& parts, Txn& txn, uint64_t seq) {
  auto dropped = parts.chain->Drop(txn, seq);
  if (!dropped.ok()) return dropped.status();
  return parts.trees->Release(txn, dropped->tree);
}

}  // namespace

Status DropSnapshots(const StoreParts& parts, const std::vector<uint64_t>& seqs) {
  CIUIC_RETURN_IF_ERROR(parts.CanWrite());
  return parts.env->Write([&](Txn& txn) { return DropSnapshotsInTxn(parts, txn, seqs); });
}

Status DropSnapshotsInTxn(const StoreParts& parts, Txn& txn, const std::vector<uint64_t>& seqs) {
  auto tags = parts.refs->Tags(txn);
  if (!tags.ok()) return tags.status();
  std::map<uint64_t, std::string> tagged;
  for (auto& [name, seq] : *tags) tagged[seq] = name;
  for (uint64_t seq : std::set<uint64_t>(seqs.begin(), seqs.end())) {
    if (tagged.count(seq))
      return Status::InvalidArgument("snapshot " + std::to_string(seq) + " is tagged '" + tagged[seq] +
                                     "'; delete the tag first");
    CIUIC_RETURN_IF_ERROR(DropOne(parts, txn, seq));
  }
  return Status::Ok();
}

Status DeleteBranch(const StoreParts& parts, const std::string& name) {
  CIUIC_RETURN_IF_ERROR(parts.CanWrite());
  return parts.env->Write([&](Txn& txn) { return DeleteBranchInTxn(parts, txn, name); });
}

Status DeleteBranchInTxn(const StoreParts& parts, Txn& txn, const std::string& name) {
  if (name == kMainBranch) return Status::InvalidArgument("branch 'main' cannot be deleted");
  auto head = BranchHead(txn, name);
  if (!head.ok()) return head.status();
  auto branches = ListBranches(txn);
  if (!branches.ok()) return branches.status();
  std::set<uint64_t> kept;  // what another branch or a tag still reaches
  for (auto& [other, seq] : *branches) {
    if (other == name) continue;
    auto line = LineOf(txn, seq);
    if (!line.ok()) return line.status();
    kept.insert(line->begin(), line->end());
  }
  auto tags = parts.refs->Tags(txn);
  if (!tags.ok()) return tags.status();
  for (auto& [tag, seq] : *tags) kept.insert(seq);
  auto line = LineOf(txn, *head);
  if (!line.ok()) return line.status();
  CIUIC_RETURN_IF_ERROR(DeleteBranchRow(txn, name));
  for (uint64_t seq : *line) {
    if (kept.count(seq)) continue;
    auto snap = parts.chain->Get(txn, seq);
    if (snap.status().IsNotFound()) continue;  // pruned before
    if (!snap.ok()) return snap.status();
    CIUIC_RETURN_IF_ERROR(DropOne(parts, txn, seq));
  }
  return Status::Ok();
}

Result<std::vector<ChunkId>> UnreferencedChunksInTxn(Txn& txn) {
  std::vector<ChunkId> out;
  Status bad;
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kChunks, "", [&](std::string_view k, std::string_view v) {
    ChunkId id;
    ChunkRow row;
    if (!DecodeHashKey(k, &id) || !DecodeChunkRow(v, &row)) bad = CorruptRow(Db::kChunks, k);
    else if (row.refcount == 0) out.push_back(id);
    return bad.ok();
  }));
  CIUIC_RETURN_IF_ERROR(bad);
  return out;
}

Status CollectRowsInTxn(Txn& txn, const std::vector<ChunkId>& chunks, const std::vector<uint32_t>& packs,
                        uint64_t* chunks_deleted, uint64_t* packs_emptied) {
  std::vector<PackLocation> punch;  // a store on RADOS keeps no chunk in an extent
  bool released = false;
  CIUIC_RETURN_IF_ERROR(DeleteUnreferencedInTxn(
      txn, chunks, [](const ChunkId&) { return false; }, chunks_deleted, &punch, &released));
  *packs_emptied = 0;
  for (uint32_t pack : packs) {
    auto row = GetPackRow(txn, pack);
    if (!row.ok()) return row.status();
    if (!*row || (*row)->live_records != 0) continue;
    CIUIC_RETURN_IF_ERROR(txn.Del(Db::kPacks, PackKey(pack)));
    ++*packs_emptied;
  }
  return Status::Ok();
}

Result<GcStats> CollectGarbage(const StoreParts& parts, const GcOptions& options,
                               const std::function<void(uint64_t, uint64_t)>& progress) {
  CIUIC_RETURN_IF_ERROR(parts.CanWrite());
  GcStats stats;
  stats.bytes_before = StoredPackBytes(parts);
  {
    // No compaction moves rows while they are deleted.
    BackgroundPause pause(parts.background);
    // Passes until no delta gave its bases back (a base can be referenced
    // only by deltas, FORMAT.md "Encoded records"; depth one: two passes).
    for (bool again = true; again;) {
      auto candidates = UnreferencedChunks(parts);
      if (!candidates.ok()) return candidates.status();
      std::vector<PackLocation> punch;
      uint64_t deleted = 0;
      again = false;
      if (!candidates->empty())
        CIUIC_RETURN_IF_ERROR(DeleteChunkRows(parts, *candidates, &deleted, &punch, &again));
      stats.chunks_deleted += deleted;
      // The dead ranges of extents that keep other chunks become holes (a
      // kill before this leaves them allocated, unreferenced).
      for (const PackLocation& loc : punch) {
        Status s = parts.extents->PunchOrDefer(loc.extent(), loc.offset, loc.stored_len);
        if (!s.ok() && !s.IsNotFound()) return s;
      }
    }
    // Extents: those no row lists and nobody writes (released, ingested).
    auto removed = parts.extents->RemoveUnlisted([&]() -> Result<std::set<uint32_t>> {
      // A commit logged before the writers were taken names its extent in
      // the rows once applied.
      if (parts.see_log) CIUIC_RETURN_IF_ERROR(parts.see_log());
      auto txn = parts.env->BeginRead();
      if (!txn.ok()) return txn.status();
      auto rows = LoadExtentRows(**txn);
      if (!rows.ok()) return rows.status();
      std::set<uint32_t> listed;
      for (auto& [e, row] : *rows) listed.insert(e);
      return listed;
    });
    if (!removed.ok()) return removed.status();
    stats.extents_deleted = *removed;
  }
  CompactOptions compact{options.compact_below};
  CIUIC_RETURN_IF_ERROR(
      parts.background->Schedule(std::make_unique<CompactPacksJob>(parts, compact, &stats, progress)).get());
  stats.bytes_after = StoredPackBytes(parts);
  return stats;
}

}  // namespace ciuicfs
