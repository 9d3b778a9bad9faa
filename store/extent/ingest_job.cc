#include "store/extent/ingest_job.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>
#include <string>
#include <utility>

#include "store/base/coding.h"
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
      throttle_(kBusyBytesPerSecond, [this] { return parts_.extents->saving(); }) {}

IngestExtentJob::~IngestExtentJob() {
  ingested_.clear();  // pins first
  if (done_) done_();
}

Status IngestExtentJob::Prepare() {
  // From here on a new schedule of this extent queues another job: a
  // commit applied after this read of the row is seen by that one.
  if (done_) std::exchange(done_, nullptr)();
  // Commits of this extent still in the commit log: its row names them
  // once they are applied (else a version would be missed, and the file
  // taken as holding nothing more).
  // While the log cannot be applied (a full disk) the job waits for the
  // batch that names the extent: that batch schedules it again.
  if (parts_.see_log && !parts_.see_log().ok()) return Status::Ok();
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
  auto fd = parts_.extents->OpenForUpdate(extent_);
  if (!fd.ok()) {
    if (!fd.status().IsNotFound()) return fd.status();
    LogLine("ingest: " + parts_.extents->Name(extent_) + " is missing; its versions read as lost");
    stats_->lost += row_.versions.size();
    return Status::Ok();
  }
  fd_ = *fd;
  struct stat st;
  if (fstat(fd_->get(), &st) != 0) return Status::FromErrno(errno, "stat " + parts_.extents->Name(extent_));
  // The data ends where the longest version ends, never past what the file
  // holds (a short file's lost version must stay short, never zeros).
  data_end_ = std::min<uint64_t>(row_.max_length(), uint64_t(st.st_size));
  std::string buf(kPiece, '\0');
  for (const ExtentRow::Held& held : row_.versions) {
    // New chunks of a large version stay where they are; a small one's are
    // copied into packs, so small files do not leave a file each behind.
    IngestSession session(parts_.chunker, parts_.pins, row_.max_length() >= kInPlaceMin ? extent_ : 0);
    bool short_file = false;
    for (uint64_t off = 0; off < held.length;) {
      ssize_t r = pread(fd_->get(), buf.data(), std::min<uint64_t>(kPiece, held.length - off), off_t(off));
      if (r < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, "read " + parts_.extents->Name(extent_));
      }
      if (r == 0) {
        short_file = true;
        break;
      }
      CIUIC_RETURN_IF_ERROR(session.Append(buf.data(), size_t(r)));
      // Written back now, at the job's pace, when no file is being saved:
      // a disk busy with writeback throttles a save's writes (the kernel's
      // dirty-page limits), so the sync before the install waits for a lull.
      // Not in the gap between two files of a checkpoint either: writeback
      // begun there makes the next file's create wait for the journal
      // (25-44 ms measured, bench/README.md).
      if (parts_.extents->idle_for(std::chrono::seconds(1)))
        (void)sync_file_range(fd_->get(), off_t(off), off_t(r), SYNC_FILE_RANGE_WRITE);
      off += uint64_t(r);
      throttle_.Account(uint64_t(r));
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
  if (ingested_.empty()) return Status::Ok();
  CIUIC_RETURN_IF_ERROR(WriteTrailer());
  WaitForLull();
  CrashPoint("ingest.before_sync");
  // The kept chunks' bytes are durable before a row names them, and so are
  // the packs of the chunks the versions reuse.
  // (and extents/ itself, when a file was created since its last fsync: the
  // rows must not name a file whose name power loss could take)
  CIUIC_RETURN_IF_ERROR(parts_.NoteSyncResult(parts_.extents->SyncCommitted({extent_})));
  std::vector<const PendingVersion*> versions;
  for (const PendingVersion& pv : ingested_) versions.push_back(&pv);
  return SyncChunksOf(parts_, versions, &synced_);
}

// After the versions' bytes: per chunk kept in place, offset u64, length
// u32, chunk id (16); then the count u32, the data length u64, the magic
// "CIUICEX1" and XXH3-64 (seed 0) of everything before it (FORMAT.md).
Status IngestExtentJob::WriteTrailer() {
  const uint64_t data_end = data_end_;
  std::string t;
  uint32_t count = 0;
  for (const PendingVersion& pv : ingested_)
    for (auto& [id, loc] : pv.placed()) {
      PutLE<uint64_t>(&t, loc.offset);
      PutLE<uint32_t>(&t, loc.stored_len);
      id.AppendTo(&t);
      ++count;
    }
  PutLE<uint32_t>(&t, count);
  PutLE<uint64_t>(&t, data_end);
  t.append("CIUICEX1");
  PutLE<uint64_t>(&t, Hash64(t, 0));
  // An earlier ingest killed before its install may have left a trailer.
  if (ftruncate(fd_->get(), off_t(data_end)) != 0)
    return Status::FromErrno(errno, "truncate " + parts_.extents->Name(extent_));
  for (size_t done = 0; done < t.size();) {
    ssize_t w = pwrite(fd_->get(), t.data() + done, t.size() - done, off_t(data_end + done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Status::FromErrno(errno, "write " + parts_.extents->Name(extent_));
    done += size_t(w);
  }
  return Status::Ok();
}

Status IngestExtentJob::Install() {
  if (ingested_.empty()) return Status::Ok();
  CIUIC_RETURN_IF_ERROR(parts_.CanWrite());
  std::map<ChunkId, PackLocation> pending_locs;
  for (const PendingVersion& pv : ingested_) pending_locs.merge(parts_.pins->PendingLocations(pv.pinned()));
  bool row_gone = false;
  uint64_t moved = 0, bytes = 0;
  std::vector<std::pair<uint64_t, uint64_t>> kept;  // ranges of the extent that chunk rows name
  bool had_chunks = false;  // an earlier ingest kept chunks here: its trailer, not our pins, lists them
  CIUIC_RETURN_IF_ERROR(parts_.env->Write([&](Txn& txn) -> Status {
    moved = bytes = 0;
    kept.clear();
    auto before = GetExtentRow(txn, extent_);
    if (!before.ok()) return before.status();
    had_chunks = *before && (*before)->live_records > 0;
    std::map<uint32_t, PackDelta> deltas;
    uint64_t added = 0;
    for (size_t i = 0; i < ingested_.size(); ++i) {
      Manifest m = ingested_[i].manifest();
      m.id = ids_[i];  // the version keeps the id its commit gave it
      // Rows for every chunk placed here, even a released version's (gc
      // frees them): another ingest may share their pins.
      CIUIC_RETURN_IF_ERROR(IndexPendingChunks(txn, ingested_[i], pending_locs, &deltas, &added));
      auto uses = txn.Get(Db::kManifests, HashKey(m.id));
      if (!uses.ok()) return uses.status();
      if (!*uses) continue;  // released meanwhile
      auto replaced = ReplaceExtentManifest(txn, extent_, m);
      if (!replaced.ok()) return replaced.status();
      if (*replaced) {
        ++moved;
        bytes += m.size;
      }
    }
    CIUIC_RETURN_IF_ERROR(UpdatePackRows(txn, std::move(deltas), synced_));
    // What of the extent stays: every chunk of its versions whose row
    // points into it (placed by this ingest, or by one that shared a pin).
    for (const PendingVersion& pv : ingested_)
      for (const ChunkId& id : pv.pinned()) {
        auto row = GetChunkRow(txn, id);
        if (!row.ok()) return row.status();
        if (*row && (*row)->location.in_extent() && (*row)->location.extent() == extent_)
          kept.emplace_back((*row)->location.offset, (*row)->location.end());
      }
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
  if (row_gone) return parts_.extents->Remove(extent_);  // every chunk was stored already
  if (had_chunks) return Status::Ok();  // only ranges this ingest can prove dead are punched
  // Another process may be reading a version of this extent, unchecked:
  // its ranges stay allocated (space, never wrong bytes).
  if (parts_.shared_now && parts_.shared_now()) return Status::Ok();
  // The ranges no kept chunk covers hold bytes the store has elsewhere.
  std::sort(kept.begin(), kept.end());
  uint64_t at = 0;
  for (auto& [from, to] : kept) {
    if (from > at) CIUIC_RETURN_IF_ERROR(Punch(at, from - at));
    at = std::max(at, to);
  }
  const uint64_t data_end = data_end_;
  if (data_end > at) CIUIC_RETURN_IF_ERROR(Punch(at, data_end - at));
  stats_->kept_bytes += [&] {
    uint64_t n = 0;
    for (auto& [from, to] : kept) n += to - from;
    return n;
  }();
  return Status::Ok();
}

// Waits (up to kMaxWait) until no file is being written through the mount.
void IngestExtentJob::WaitForLull() {
  constexpr auto kStep = std::chrono::milliseconds(20);
  constexpr auto kMaxWait = std::chrono::seconds(30);
  for (auto waited = std::chrono::milliseconds(0); waited < kMaxWait && parts_.extents->saving(); waited += kStep)
    std::this_thread::sleep_for(kStep);
}

Status IngestExtentJob::Punch(uint64_t offset, uint64_t n) {
  Status s = parts_.extents->PunchOrDefer(extent_, offset, n);
  return s.IsNotFound() ? Status::Ok() : s;
}

}  // namespace ciuicfs
