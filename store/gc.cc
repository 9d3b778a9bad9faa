// Prune and garbage collection (FORMAT.md "Garbage collection").
#include <map>
#include <set>

#include "store/coding.h"
#include "store/index_access.h"
#include "store/lmdb_env.h"
#include "store/log.h"
#include "store/pack.h"
#include "store/store.h"

namespace ciuicfs {

// Drops one reference to `tree_id`; when it was the last, drops the tree's
// references to its versions, and theirs to their chunks.
Status Store::ReleaseTree(Txn& txn, const Hash128& tree_id) {
  if (tree_id.IsZero()) return Status::Ok();
  uint32_t refcount = 0;
  auto tree = LoadTree(txn, tree_id, &refcount);
  if (!tree.ok()) return tree.status();
  if (refcount > 1) {
    auto v = txn.Get(Db::kTrees, tree_id.Bytes());
    if (!v.ok()) return v.status();
    std::string row(**v);
    StoreLE<uint32_t>(row.data(), refcount - 1);
    return txn.Put(Db::kTrees, tree_id.Bytes(), row);
  }
  CIUIC_RETURN_IF_ERROR(txn.Del(Db::kTrees, tree_id.Bytes()));
  std::map<VersionId, uint32_t> version_uses;
  for (const TreeEntry& e : *tree)
    if (e.kind != EntryKind::kDirectory) ++version_uses[e.version];
  for (auto& [vid, n] : version_uses) {
    uint32_t mref = 0;
    auto m = LoadManifest(txn, vid, &mref);
    if (!m.ok()) return m.status();
    if (mref > n) {
      CIUIC_RETURN_IF_ERROR(txn.Put(Db::kManifests, vid.Bytes(), EncodeManifest(*m, mref - n)));
      continue;
    }
    CIUIC_RETURN_IF_ERROR(txn.Del(Db::kManifests, vid.Bytes()));
    std::map<ChunkId, uint32_t> chunk_uses;
    for (const ChunkRef& c : m->chunks) ++chunk_uses[c.id];
    for (auto& [cid, k] : chunk_uses) {
      auto v = txn.Get(Db::kChunks, cid.Bytes());
      if (!v.ok()) return v.status();
      ChunkRow row;
      if (!*v || !DecodeChunkRow(**v, &row)) return Status::Corruption("prune: bad row for chunk " + cid.Hex());
      row.refcount = row.refcount > k ? row.refcount - k : 0;
      CIUIC_RETURN_IF_ERROR(txn.Put(Db::kChunks, cid.Bytes(), EncodeChunkRow(row)));
    }
  }
  return Status::Ok();
}

Status Store::DropSnapshots(const std::vector<uint64_t>& seqs) {
  return env_->Write([&](Txn& txn) -> Status {
    auto head = LoadHead(txn);
    if (!head.ok()) return head.status();
    std::map<uint64_t, std::string> tagged;
    CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kTags, "", [&](std::string_view k, std::string_view v) {
      if (v.size() == 8) tagged[LoadLE<uint64_t>(v.data())] = std::string(k);
      return true;
    }));
    for (uint64_t seq : std::set<uint64_t>(seqs.begin(), seqs.end())) {
      if (*head && (*head)->seq == seq) return Status::InvalidArgument("the head snapshot cannot be dropped");
      if (tagged.count(seq))
        return Status::InvalidArgument("snapshot " + std::to_string(seq) + " is tagged '" + tagged[seq] +
                                       "'; delete the tag first");
      auto v = txn.Get(Db::kSnapshots, SeqKey(seq));
      if (!v.ok()) return v.status();
      if (!*v) return Status::NotFound("no snapshot with sequence " + std::to_string(seq));
      Snapshot s;
      if (!DecodeSnapshot(**v, &s)) return Status::Corruption("index: undecodable snapshot " + std::to_string(seq));
      CIUIC_RETURN_IF_ERROR(txn.Del(Db::kSnapshots, SeqKey(seq)));
      CIUIC_RETURN_IF_ERROR(txn.Del(Db::kSnapshotIds, SnapshotIdKey(s.id)));
      CIUIC_RETURN_IF_ERROR(txn.Del(Db::kSteps, StepKey(s.step, seq)));
      for (const Change& c : s.changes) CIUIC_RETURN_IF_ERROR(txn.Del(Db::kPaths, PathKey(c.path, seq)));
      CIUIC_RETURN_IF_ERROR(ReleaseTree(txn, s.tree));
    }
    return Status::Ok();
  });
}

Result<GcStats> Store::Gc(const GcOptions& options) {
  std::lock_guard<std::mutex> gc_lock(gc_mu_);
  GcStats stats;
  std::map<uint32_t, PackRow> rows;
  uint32_t first_busy_pack = UINT32_MAX;  // packs from here on may hold pending records
  {
    // Phase 1: forget unreferenced, unpinned chunks. pins_mu_ keeps an
    // ingest from pinning a row this transaction is deleting.
    std::lock_guard<std::mutex> lock(pins_mu_);
    for (auto& [id, pin] : pins_)
      if (pin.pending) first_busy_pack = std::min(first_busy_pack, pin.location.pack);
    CIUIC_RETURN_IF_ERROR(env_->Write([&](Txn& txn) -> Status {
      stats.chunks_deleted = 0;
      rows.clear();
      std::vector<std::pair<std::string, ChunkRow>> doomed;
      CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kChunks, "", [&](std::string_view k, std::string_view v) {
        ChunkRow row;
        if (k.size() == 16 && DecodeChunkRow(v, &row) && row.refcount == 0 &&
            !pins_.count(Hash128::FromBytes(k.data())))
          doomed.emplace_back(std::string(k), row);
        return true;
      }));
      Status bad;
      CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kPacks, "", [&](std::string_view k, std::string_view v) {
        PackRow row;
        if (k.size() != 4 || !DecodePackRow(v, &row)) bad = Status::Corruption("index: bad packs row");
        rows[LoadBE<uint32_t>(k.data())] = row;
        return bad.ok();
      }));
      CIUIC_RETURN_IF_ERROR(bad);
      for (auto& [key, row] : doomed) {
        CIUIC_RETURN_IF_ERROR(txn.Del(Db::kChunks, key));
        ++stats.chunks_deleted;
        if (row.location.pack == kLostPack) continue;
        PackRow& pr = rows[row.location.pack];
        uint64_t bytes = kRecordHeaderSize + row.location.stored_len;
        pr.live_bytes = pr.live_bytes > bytes ? pr.live_bytes - bytes : 0;
        pr.live_records = pr.live_records > 0 ? pr.live_records - 1 : 0;
      }
      for (auto& [pack, row] : rows) CIUIC_RETURN_IF_ERROR(txn.Put(Db::kPacks, PackKey(pack), EncodePackRow(row)));
      return Status::Ok();
    }));
  }
  // Phase 2: rewrite packs that are mostly garbage. Never the pack being
  // appended to, nor any that may hold records of an unfinished ingest.
  const uint32_t active = packs_->active_pack();
  if (active != 0) first_busy_pack = std::min(first_busy_pack, active);
  auto pack_bytes = [this]() {
    uint64_t total = 0;
    auto files = packs_->ListFiles();
    if (files.ok())
      for (uint32_t p : *files) {
        auto size = packs_->FileSize(p);
        if (size.ok()) total += *size;
      }
    return total;
  };
  stats.bytes_before = pack_bytes();
  for (auto& [pack, row] : rows) {
    if (pack >= first_busy_pack) continue;
    auto size = packs_->FileSize(pack);
    if (!size.ok()) continue;
    if (double(row.live_bytes) >= options.compact_below * double(*size - kPackHeaderSize)) continue;
    CIUIC_RETURN_IF_ERROR(CompactPack(pack, &stats));
  }
  stats.bytes_after = pack_bytes();
  return stats;
}

// Copies the live records of `pack` to the active pack, repoints their rows,
// then deletes the pack. Crash analysis in FORMAT.md.
Status Store::CompactPack(uint32_t pack, GcStats* stats) {
  std::vector<ScannedRecord> records;
  uint64_t valid_end = 0;
  auto size = packs_->FileSize(pack);
  if (!size.ok()) return size.status();
  CIUIC_RETURN_IF_ERROR(packs_->Scan(pack, 0, *size, false, &records, &valid_end));
  std::map<ChunkId, std::pair<PackLocation, PackLocation>> moved;  // id -> (old, new)
  {
    auto txn = env_->BeginRead();
    if (!txn.ok()) return txn.status();
    std::vector<ScannedRecord> live;
    for (const ScannedRecord& rec : records) {
      auto v = (*txn)->Get(Db::kChunks, rec.id.Bytes());
      if (!v.ok()) return v.status();
      ChunkRow row;
      if (*v && DecodeChunkRow(**v, &row) && row.location.pack == pack && row.location.offset == rec.location.offset)
        live.push_back(rec);
    }
    records.swap(live);
  }
  std::string payload;
  for (const ScannedRecord& rec : records) {
    Status s = packs_->Read(rec.id, rec.location, &payload);
    if (!s.ok()) {
      LogLine("gc: leaving packs/" + PackFileName(pack) + " in place: " + s.message());
      return Status::Ok();  // never drop the only copy of a damaged chunk
    }
    auto loc = packs_->Append(rec.id, reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
    if (!loc.ok()) return loc.status();
    moved[rec.id] = {rec.location, *loc};
  }
  std::map<uint32_t, uint64_t> synced;
  CIUIC_RETURN_IF_ERROR(packs_->SyncAll(&synced));
  CIUIC_RETURN_IF_ERROR(env_->Write([&](Txn& txn) -> Status {
    std::map<uint32_t, PackRow> dest;
    for (auto& [id, locs] : moved) {
      auto v = txn.Get(Db::kChunks, id.Bytes());
      if (!v.ok()) return v.status();
      ChunkRow row;
      if (!*v || !DecodeChunkRow(**v, &row) || row.location.pack != pack || row.location.offset != locs.first.offset)
        continue;
      row.location = locs.second;
      CIUIC_RETURN_IF_ERROR(txn.Put(Db::kChunks, id.Bytes(), EncodeChunkRow(row)));
      if (!dest.count(locs.second.pack)) {
        auto pv = txn.Get(Db::kPacks, PackKey(locs.second.pack));
        if (!pv.ok()) return pv.status();
        PackRow pr;
        if (*pv) DecodePackRow(**pv, &pr);
        dest[locs.second.pack] = pr;
      }
      PackRow& pr = dest[locs.second.pack];
      pr.indexed_end = std::max(pr.indexed_end, locs.second.end());
      pr.live_bytes += kRecordHeaderSize + locs.second.stored_len;
      pr.live_records += 1;
    }
    for (auto& [p, pr] : dest) {
      auto s = synced.find(p);
      if (s != synced.end()) pr.synced_end = std::max(pr.synced_end, std::min(s->second, pr.indexed_end));
      CIUIC_RETURN_IF_ERROR(txn.Put(Db::kPacks, PackKey(p), EncodePackRow(pr)));
    }
    return txn.Del(Db::kPacks, PackKey(pack));
  }));
  CIUIC_RETURN_IF_ERROR(env_->Sync());
  CIUIC_RETURN_IF_ERROR(packs_->Remove(pack));
  if (moved.empty()) ++stats->packs_deleted;
  else ++stats->packs_compacted;
  return Status::Ok();
}

}  // namespace ciuicfs
