#include "store/extent/ingest_job.h"

#include <unistd.h>

#include <cerrno>
#include <string>

#include "store/base/crash_point.h"
#include "store/base/log.h"
#include "store/commit.h"
#include "store/index/queries.h"
#include "store/ingest/ingest_session.h"

namespace ciuicfs {
namespace {
constexpr size_t kPiece = 1 << 20;
}  // namespace

IngestExtentJob::IngestExtentJob(StoreParts parts, uint32_t extent, IngestJobStats* stats, std::function<void()> done)
    : parts_(std::move(parts)),
      extent_(extent),
      stats_(stats),
      done_(std::move(done)),
      throttle_(kBusyBytesPerSecond, [this] { return parts_.extents->writing() > 0; }) {}

IngestExtentJob::~IngestExtentJob() {
  ingested_.clear();  // pins first
  if (done_) done_();
}

Status IngestExtentJob::Prepare() {
  if (parts_.extents->IsWriting(extent_)) return Status::Ok();  // its seal schedules it again
  auto txn = parts_.env->BeginRead();
  if (!txn.ok()) return txn.status();
  auto row = GetExtentRow(**txn, extent_);
  if (!row.ok()) return row.status();
  if (*row) row_ = std::move(**row);
  return Status::Ok();
}

Status IngestExtentJob::Run() {
  if (row_.versions.empty()) return Status::Ok();
  auto fd = parts_.extents->OpenRead(extent_);
  if (!fd.ok()) {
    if (!fd.status().IsNotFound()) return fd.status();
    LogLine("ingest: " + parts_.extents->Name(extent_) + " is missing; its versions read as lost");
    stats_->lost += row_.versions.size();
    return Status::Ok();
  }
  std::string buf(kPiece, '\0');
  for (const ExtentRow::Held& held : row_.versions) {
    IngestSession session(parts_.chunker, parts_.pins);
    bool short_file = false;
    for (uint64_t off = 0; off < held.length;) {
      ssize_t r = pread((*fd)->get(), buf.data(), std::min<uint64_t>(kPiece, held.length - off), off_t(off));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, "read " + parts_.extents->Name(extent_));
      }
      if (r == 0) {
        short_file = true;
        break;
      }
      CIUIC_RETURN_IF_ERROR(session.Append(buf.data(), size_t(r)));
      off += uint64_t(r);
      throttle_.Account(2 * uint64_t(r));  // read + write at most
    }
    if (short_file) {
      LogLine("ingest: " + parts_.extents->Name(extent_) + " is shorter than version " + held.version.ShortHex() +
              " (" + std::to_string(held.length) + " bytes); it reads as lost");
      ++stats_->lost;
      continue;
    }
    auto pending = session.Finish();
    if (!pending.ok()) return pending.status();
    ids_.push_back(held.version);
    ingested_.push_back(std::move(pending.value()));
  }
  CrashPoint("ingest.before_sync");
  std::vector<const PendingVersion*> versions;
  for (const PendingVersion& pv : ingested_) versions.push_back(&pv);
  return SyncChunksOf(parts_, versions, &synced_);
}

Status IngestExtentJob::Install() {
  if (row_.versions.empty()) return Status::Ok();
  CIUIC_RETURN_IF_ERROR(parts_.CanWrite());
  std::map<ChunkId, PackLocation> pending_locs;
  for (const PendingVersion& pv : ingested_) pending_locs.merge(parts_.pins->PendingLocations(pv.pinned()));
  bool row_gone = false;
  uint64_t moved = 0, bytes = 0;
  CIUIC_RETURN_IF_ERROR(parts_.env->Write([&](Txn& txn) -> Status {
    moved = bytes = 0;
    std::map<uint32_t, PackDelta> deltas;
    uint64_t added = 0;
    for (size_t i = 0; i < ingested_.size(); ++i) {
      Manifest m = ingested_[i].manifest();
      m.id = ids_[i];  // the version keeps the id its commit gave it
      auto uses = txn.Get(Db::kManifests, HashKey(m.id));
      if (!uses.ok()) return uses.status();
      if (!*uses) continue;  // released meanwhile
      CIUIC_RETURN_IF_ERROR(IndexPendingChunks(txn, ingested_[i], pending_locs, &deltas, &added));
      auto replaced = ReplaceExtentManifest(txn, extent_, m);
      if (!replaced.ok()) return replaced.status();
      if (*replaced) {
        ++moved;
        bytes += m.size;
      }
    }
    CIUIC_RETURN_IF_ERROR(UpdatePackRows(txn, std::move(deltas), synced_));
    auto row = GetExtentRow(txn, extent_);
    if (!row.ok()) return row.status();
    row_gone = !*row;
    CrashPoint("ingest.before_txn_commit");
    return Status::Ok();
  }));
  for (const PendingVersion& pv : ingested_) parts_.pins->MarkIndexed(pv.pinned());
  CIUIC_RETURN_IF_ERROR(parts_.NoteSyncResult(parts_.env->Sync()));
  CrashPoint("ingest.after_txn");
  stats_->versions += moved;
  stats_->bytes += bytes;
  if (row_gone) CIUIC_RETURN_IF_ERROR(parts_.extents->Remove(extent_));
  return Status::Ok();
}

}  // namespace ciuicfs
