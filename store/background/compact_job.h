// CompactPacksJob: gc's second pass as a background job. Prepare picks the
// packs whose live bytes fell below a fraction of their size (never the
// pack being appended to, nor one that may hold records of an unfinished
// ingest); Run copies their live records to the active pack and syncs it,
// with no store lock held; Install repoints the moved rows in one index
// transaction (only rows that still point at the old place), syncs the
// index, then deletes the old packs. Crash analysis: FORMAT.md, "Garbage
// collection". Progress: the live record bytes Run has copied, of those of
// the picked packs (their rows' live bytes), reported from the job's thread.
#ifndef CIUICFS_STORE_BACKGROUND_COMPACT_JOB_H_
#define CIUICFS_STORE_BACKGROUND_COMPACT_JOB_H_

#include <functional>
#include <map>
#include <vector>

#include "store/background/scheduler.h"
#include "store/background/throttle.h"
#include "store/gc.h"
#include "store/parts.h"

namespace ciuicfs {

struct CompactOptions {
  double compact_below = 0.5;
  // The rate (bytes read + written) while a save is in progress, unlimited
  // otherwise (0: always unlimited). Saves come first: a gc takes longer,
  // a save does not.
  uint64_t busy_bytes_per_second = 32ull << 20;
};

class CompactPacksJob : public BackgroundJob {
 public:
  // Adds what it did to `*stats`, which must outlive the job. `progress`
  // (may be empty) hears the bytes copied and the bytes to copy.
  CompactPacksJob(StoreParts parts, CompactOptions options, GcStats* stats,
                  std::function<void(uint64_t done, uint64_t total)> progress = nullptr)
      : parts_(std::move(parts)),
        options_(options),
        stats_(stats),
        progress_(std::move(progress)),
        throttle_(options.busy_bytes_per_second, [this] { return parts_.pins->ingesting(); }) {}
  std::string name() const override { return "compact packs"; }
  Status Prepare() override;
  Status Run() override;
  Status Install() override;

 private:
  struct Move {
    PackLocation from, to;
  };
  Status CopyLive(uint32_t pack);

  StoreParts parts_;
  CompactOptions options_;
  GcStats* stats_;
  std::function<void(uint64_t, uint64_t)> progress_;
  uint64_t to_copy_ = 0, copied_bytes_ = 0;  // live record bytes of the picked packs, and those copied
  Throttle throttle_;  // one busy spell may span several packs
  std::vector<uint32_t> picked_;
  std::vector<uint32_t> copied_;                  // picked packs whose records were all copied
  std::map<ChunkId, Move> moves_;
  std::map<uint32_t, uint64_t> synced_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_BACKGROUND_COMPACT_JOB_H_
