// ReencodeJob: one step of the background re-encoding (FORMAT.md, "Encoded
// records"). Prepare takes the next snapshots after `meta`
// `reencoded_through` (up to a budget of raw bytes, stopping before a
// snapshot whose versions are not ingested yet) and, for each file they
// put, its version and the same path's version in the parent snapshot.
// Run reads each raw chunk (verified), picks its encoding (codec.h),
// appends the records that pay to the background lane and syncs them, with
// no store lock held and its I/O held to a rate while files are being
// written. Install, in one index transaction, moves the rows that still
// name their old place, takes the bases' references, updates pack and
// extent rows and the cursor; syncs the index; then punches the chunks'
// old ranges in extents.
#ifndef CIUICFS_STORE_ENCODE_REENCODE_JOB_H_
#define CIUICFS_STORE_ENCODE_REENCODE_JOB_H_

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/background/scheduler.h"
#include "store/background/throttle.h"
#include "store/index/rows.h"
#include "store/parts.h"

namespace ciuicfs {

struct ReencodeStats {
  uint64_t snapshots = 0;    // snapshots considered
  uint64_t chunks = 0;       // chunks re-encoded
  uint64_t deltas = 0;       // of them, as deltas
  uint64_t raw_bytes = 0;    // their raw bytes
  uint64_t stored_bytes = 0;  // their new records' bytes (headers included)
  uint64_t kept_raw = 0;     // chunks for which no encoding paid
};

// The `meta` row that says how far re-encoding has come.
inline constexpr const char* kReencodedThroughKey = "reencoded_through";
Result<uint64_t> ReencodedThrough(Txn& txn);

// The version a file at `path` follows, in the tree `root` (the parent
// snapshot's): the file at `path` itself when it is another version, else
// the same file under the nearest earlier sibling of the deepest component
// with a number in its name (run/step_000010/model.pt follows
// run/step_000005/model.pt). nullopt when there is none.
Result<std::optional<VersionId>> PreviousVersion(TreeStore* trees, Txn& txn, const Hash128& root,
                                                 const std::string& path, const VersionId& self);

class ReencodeJob : public BackgroundJob {
 public:
  static constexpr uint64_t kBusyBytesPerSecond = 32ull << 20;
  static constexpr uint64_t kBudget = 256ull << 20;  // raw bytes a job takes on
  // A chunk with this many dependents takes no more (FORMAT.md, "Choosing").
  static constexpr uint32_t kMaxDependents = 6;

  // `done(more)` runs after the job, whatever its outcome: `more` when
  // snapshots are left that it could have taken on.
  ReencodeJob(StoreParts parts, ReencodeStats* stats, std::function<void(bool more)> done);
  ~ReencodeJob() override;
  std::string name() const override { return "re-encode"; }
  Status Prepare() override;
  Status Run() override;
  Status Install() override;

 private:
  struct Item {
    Manifest version;
    Manifest previous;  // empty: no base
  };
  struct Move {
    PackLocation from, to;
    std::vector<DeltaBase> bases;
  };
  Status EncodeChunk(const Item& item, size_t i);
  Result<std::vector<DeltaBase>> BasesFor(Txn& txn, const Manifest& prev, uint64_t from, uint64_t to,
                                          const ChunkId& self);

  StoreParts parts_;
  ReencodeStats* stats_;
  std::function<void(bool)> done_;
  Throttle throttle_;
  uint64_t cursor_ = 0;   // `reencoded_through` when the job began
  uint64_t through_ = 0;  // and after it
  uint64_t snapshots_ = 0;
  bool more_ = false;
  std::vector<Item> items_;
  std::set<ChunkId> seen_;
  std::vector<std::pair<ChunkId, Move>> moves_;  // in the order they were made
  std::map<ChunkId, size_t> planned_;            // index into moves_
  std::map<ChunkId, uint32_t> bases_;            // what the planned deltas are on, and how many
  std::map<uint32_t, uint64_t> synced_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_ENCODE_REENCODE_JOB_H_
