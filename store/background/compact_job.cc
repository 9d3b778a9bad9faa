#include "store/background/compact_job.h"

#include <algorithm>
#include <set>

#include "store/base/log.h"
#include "store/index/queries.h"

namespace ciuicfs {

Status CompactPacksJob::Prepare() {
  parts_.packs->CloseLane(PackLane::kBackground);  // copies go to a pack of this run's own
  // The bound first, then the pins: a record appended after the bound was
  // read lands in the active pack or a later one; one appended before is
  // pinned by then (PinTable appends and pins under one lock), so
  // FirstPendingPack sees it unless its commit has indexed it.
  std::map<uint32_t, PackRow> rows;
  {
    auto txn = parts_.env->BeginRead();
    if (!txn.ok()) return txn.status();
    auto loaded = LoadPackRows(**txn);
    if (!loaded.ok()) return loaded.status();
    rows = std::move(loaded.value());
  }
  auto mostly_dead = [&](uint32_t pack, const PackRow& row) {
    auto size = parts_.packs->FileSize(pack);
    return size.ok() && double(row.live_bytes) < options_.compact_below * double(*size - kPackHeaderSize);
  };
  // The active pack is never rewritten while saves append to it. When no
  // save holds a record in it and most of it is dead (a mount whose
  // retention dropped what it held, then went quiet), it is closed first,
  // so this run may take it.
  if (const uint32_t active = parts_.packs->active_pack(PackLane::kIngest);
      active != 0 && parts_.pins->FirstPendingPack() > active) {
    auto row = rows.find(active);
    if (row != rows.end() && mostly_dead(active, row->second)) parts_.packs->CloseLane(PackLane::kIngest);
  }
  const uint32_t active = parts_.packs->active_pack(PackLane::kIngest);
  uint32_t first_busy = active != 0 ? active : parts_.packs->next_pack();
  first_busy = std::min(first_busy, parts_.pins->FirstPendingPack());
  for (auto& [pack, row] : rows) {
    if (pack >= first_busy || !mostly_dead(pack, row)) continue;
    picked_.push_back(pack);
    to_copy_ += row.live_bytes;
  }
  return Status::Ok();
}

// Copies the records of `pack` that the index still points at.
Status CompactPacksJob::CopyLive(uint32_t pack) {
  std::vector<ScannedRecord> records;
  uint64_t valid_end = 0;
  auto size = parts_.packs->FileSize(pack);
  if (!size.ok()) return size.status();
  CIUIC_RETURN_IF_ERROR(parts_.packs->Scan(pack, 0, *size, false, &records, &valid_end));
  std::vector<std::pair<ScannedRecord, ChunkId>> live;  // and a delta's first base
  {
    auto txn = parts_.env->BeginRead();
    if (!txn.ok()) return txn.status();
    for (const ScannedRecord& rec : records) {
      auto row = GetChunkRow(**txn, rec.id);
      if (!row.ok()) return row.status();
      if (*row && (*row)->location.pack == pack && (*row)->location.offset == rec.location.offset)
        live.emplace_back(rec, (*row)->bases.empty() ? ChunkId() : (*row)->bases[0].id);
    }
  }
  std::string raw, payload;
  std::map<ChunkId, Move> moves;
  for (const auto& [rec, base] : live) {
    // Checked decoded, copied as stored (an encoded record stays encoded).
    Status s = parts_.packs->Read(rec.id, rec.location, &raw);
    if (s.ok()) s = parts_.packs->ReadStored(rec.id, rec.location, &payload);
    if (!s.ok()) {
      LogLine("gc: leaving " + parts_.packs->Name(pack) + " in place: " + s.message());
      return Status::Ok();  // never drop the only copy of a damaged chunk
    }
    auto loc = parts_.packs->AppendRecord(rec.id, rec.location.encoding, base, payload, rec.location.raw_len,
                                          PackLane::kBackground);
    if (!loc.ok()) return loc.status();
    moves[rec.id] = Move{rec.location, *loc};
    throttle_.Account(2 * payload.size());  // read + write
    copied_bytes_ += rec.location.record_bytes();
    if (progress_ && to_copy_ > 0) progress_(std::min(copied_bytes_, to_copy_), to_copy_);
  }
  moves_.merge(moves);
  copied_.push_back(pack);
  return Status::Ok();
}

Status CompactPacksJob::Run() {
  const bool report = progress_ && to_copy_ > 0;  // packs with nothing live go at once
  if (report) progress_(0, to_copy_);
  for (uint32_t pack : picked_) CIUIC_RETURN_IF_ERROR(CopyLive(pack));
  // A record of a pack left in place (damaged) or one whose row moved since
  // Prepare is not copied, so the count may stop short: done is done.
  if (report) progress_(to_copy_, to_copy_);
  if (copied_.empty()) return Status::Ok();
  std::set<uint32_t> written;
  for (auto& [id, move] : moves_) written.insert(move.to.pack);
  return parts_.NoteSyncResult(
      parts_.packs->SyncPacks(std::vector<uint32_t>(written.begin(), written.end()), &synced_));
}

Status CompactPacksJob::Install() {
  if (copied_.empty()) return Status::Ok();
  CIUIC_RETURN_IF_ERROR(parts_.CanWrite());  // the copies must be durable before rows name them
  CIUIC_RETURN_IF_ERROR(parts_.env->Write([&](Txn& txn) -> Status {
    std::map<uint32_t, PackRow> dest;
    for (auto& [id, move] : moves_) {
      auto row = GetChunkRow(txn, id);
      if (!row.ok()) return row.status();
      if (!*row || (*row)->location.pack != move.from.pack || (*row)->location.offset != move.from.offset) continue;
      ChunkRow r = **row;
      r.location = move.to;
      CIUIC_RETURN_IF_ERROR(PutChunkRow(txn, id, r));
      if (!dest.count(move.to.pack)) {
        auto pr = GetPackRow(txn, move.to.pack);
        if (!pr.ok()) return pr.status();
        dest[move.to.pack] = *pr ? **pr : PackRow{};
      }
      PackRow& pr = dest[move.to.pack];
      pr.indexed_end = std::max(pr.indexed_end, move.to.end());
      pr.live_bytes += move.to.record_bytes();
      pr.live_records += 1;
    }
    for (auto& [p, pr] : dest) {
      auto s = synced_.find(p);
      if (s != synced_.end()) pr.NoteSynced(s->second);
      CIUIC_RETURN_IF_ERROR(PutPackRow(txn, p, pr));
    }
    for (uint32_t pack : copied_) CIUIC_RETURN_IF_ERROR(txn.Del(Db::kPacks, PackKey(pack)));
    return Status::Ok();
  }));
  CIUIC_RETURN_IF_ERROR(parts_.NoteSyncResult(parts_.env->Sync()));
  CIUIC_RETURN_IF_ERROR(parts_.CanWrite());  // delete the old copies only behind a sound index
  std::map<uint32_t, bool> had_live;
  for (auto& [id, move] : moves_) had_live[move.from.pack] = true;
  for (uint32_t pack : copied_) {
    CIUIC_RETURN_IF_ERROR(parts_.packs->Remove(pack));
    if (had_live.count(pack)) ++stats_->packs_compacted;
    else ++stats_->packs_deleted;
  }
  parts_.packs->CloseLane(PackLane::kBackground);
  return Status::Ok();
}

}  // namespace ciuicfs
