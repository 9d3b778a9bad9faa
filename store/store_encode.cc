// The facade's side of re-encoding (FORMAT.md, "Encoded records"): the
// background trigger, Reencode() for `ciuicfs compact`, and the figures
// Stats() shows.
#include <functional>
#include <future>

#include "store/background/scheduler.h"
#include "store/base/coding.h"
#include "store/encode/reencode_job.h"
#include "store/index/keys.h"
#include "store/index/queries.h"
#include "store/parts.h"
#include "store/store.h"

namespace ciuicfs {

void Store::StartReencode() {
  if (parts_->read_only || cluster_) return;
  {
    std::lock_guard<std::mutex> lock(reencode_mu_);
    if (reencode_queued_) return;
    reencode_queued_ = true;
  }
  QueueReencode();
}

void Store::ScheduleReencode() {
  if (reencode_) StartReencode();
}

void Store::QueueReencode() {
  background_->Schedule(std::make_unique<ReencodeJob>(*parts_, reencode_stats_.get(), [this](bool more) {
    {
      std::lock_guard<std::mutex> lock(reencode_mu_);
      reencode_queued_ = false;
    }
    if (more) StartReencode();
  }));
}

// The bytes the snapshots after `reencoded_through` put.
Result<uint64_t> WaitingBytes(Txn& txn) {
  auto through = ReencodedThrough(txn);
  if (!through.ok()) return through.status();
  uint64_t n = 0;
  Status bad;
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kSnapshots, SeqKey(*through + 1), [&](std::string_view k, std::string_view v) {
    Snapshot s;
    if (!DecodeSnapshot(v, &s)) {
      bad = CorruptRow(Db::kSnapshots, k);
      return false;
    }
    for (const Change& c : s.changes)
      if (c.kind == ChangeKind::kPut) n += c.size;
    return true;
  }));
  CIUIC_RETURN_IF_ERROR(bad);
  return n;
}

Status Store::Reencode(const std::function<void(uint64_t done, uint64_t total)>& progress) {
  CIUIC_RETURN_IF_ERROR(LocalOnly("re-encoding (compact)"));
  CIUIC_RETURN_IF_ERROR(parts_->CanWrite());
  CIUIC_RETURN_IF_ERROR(DrainIngest());
  auto total = WithRead(env_.get(), [](Txn& txn) { return WaitingBytes(txn); });
  if (!total.ok()) return total.status();
  for (;;) {
    auto more = std::make_shared<bool>(false);
    CIUIC_RETURN_IF_ERROR(background_
                              ->Schedule(std::make_unique<ReencodeJob>(*parts_, reencode_stats_.get(),
                                                                       [more](bool m) { *more = m; }))
                              .get());
    if (progress) {
      auto left = WithRead(env_.get(), [](Txn& txn) { return WaitingBytes(txn); });
      if (left.ok()) progress(*total > *left ? *total - *left : 0, *total);
    }
    if (!*more) return Status::Ok();
  }
}

// Adds the re-encoding figures to `st` (Stats).
Status AddEncodingStats(Txn& txn, StoreStats* st) {
  Status bad;
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kChunks, "", [&](std::string_view k, std::string_view v) {
    ChunkRow row;
    if (!DecodeChunkRow(v, &row)) {
      bad = CorruptRow(Db::kChunks, k);
      return false;
    }
    st->unique_bytes += row.location.raw_len;
    if (row.location.encoding == Encoding::kZstd || IsDelta(row.location.encoding))
      ++st->encoded_chunks;
    if (IsDelta(row.location.encoding)) ++st->delta_chunks;
    return true;
  }));
  return bad;
}

}  // namespace ciuicfs
