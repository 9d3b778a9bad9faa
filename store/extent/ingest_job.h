// IngestExtentJob: the background ingest of one sealed extent (FORMAT.md,
// "Extents"). Prepare reads the extent's row; Run chunks and hashes bytes
// [0, L) of each version it holds through an IngestSession (new chunks
// appended to packs and pinned) and syncs those packs, with no store lock
// held and its I/O held to a rate while files are being written; Install,
// in one index transaction, replaces each version's extent form by its
// chunk list (only where the version still has it), syncs the index and
// removes the extent file once no row names it.
#ifndef CIUICFS_STORE_EXTENT_INGEST_JOB_H_
#define CIUICFS_STORE_EXTENT_INGEST_JOB_H_

#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "store/background/scheduler.h"
#include "store/background/throttle.h"
#include "store/ingest/ingest_session.h"
#include "store/parts.h"

namespace ciuicfs {

struct IngestJobStats {
  uint64_t versions = 0;  // versions moved from an extent to chunks
  uint64_t bytes = 0;     // their bytes
  uint64_t lost = 0;      // versions whose extent was shorter than the version
  uint64_t kept_bytes = 0;  // bytes left in place as new chunks (not copied)
};

class IngestExtentJob : public BackgroundJob {
 public:
  // I/O rate (read + written) while any file is being written.
  static constexpr uint64_t kBusyBytesPerSecond = 32ull << 20;
  // Extents at least this long keep their new chunks in place; shorter
  // ones have them copied into packs and go (FORMAT.md, "Extents").
  static constexpr uint64_t kInPlaceMin = 1ull << 20;

  // `done` runs after the job, whatever its outcome (the store's queue).
  IngestExtentJob(StoreParts parts, uint32_t extent, IngestJobStats* stats, std::function<void()> done = nullptr);
  ~IngestExtentJob() override;
  std::string name() const override { return "ingest " + parts_.extents->Name(extent_); }
  Status Prepare() override;
  Status Run() override;
  Status Install() override;

 private:
  Status WriteTrailer();
  void WaitForLull();
  Status Punch(uint64_t offset, uint64_t n);

  StoreParts parts_;
  const uint32_t extent_;
  std::shared_ptr<ExtentFd> fd_;
  uint64_t data_end_ = 0;
  IngestJobStats* stats_;
  std::function<void()> done_;
  Throttle throttle_;
  ExtentRow row_;
  std::vector<PendingVersion> ingested_;
  std::vector<VersionId> ids_;
  std::map<uint32_t, uint64_t> synced_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_EXTENT_INGEST_JOB_H_
