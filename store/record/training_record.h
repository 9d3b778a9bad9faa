// The training record of a snapshot: metrics and notes read back from the
// files a trainer saved (store/record/README.md), and the best snapshot by
// a metric. Uses the Store's public reads only; thread-safe.
#ifndef CIUICFS_STORE_RECORD_TRAINING_RECORD_H_
#define CIUICFS_STORE_RECORD_TRAINING_RECORD_H_

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "store/index/rows.h"

namespace ciuicfs {

class Store;

struct SnapshotRecord {
  std::map<std::string, double> metrics;
  std::map<std::string, std::string> notes;
  bool empty() const { return metrics.empty() && notes.empty(); }
};

class TrainingRecords {
 public:
  explicit TrainingRecords(Store* store) : store_(store) {}

  Result<SnapshotRecord> Of(const Snapshot& s);
  // "best-METRIC" (lowest) or "best-max-METRIC" (highest) on `branch`'s
  // line; nullopt when `ref` is not of that form.
  std::optional<Result<Snapshot>> ResolveBest(std::string_view ref, const std::string& branch);

  // Pieces, exposed for tests: the metrics of `log_history` entries at
  // `step` in a trainer_state.json text; the metric or note of one xattr.
  static void FromTrainerState(std::string_view json, int64_t step, SnapshotRecord* out);
  static void FromXattr(const std::string& name, const std::string& value, SnapshotRecord* out);

 private:
  Result<SnapshotRecord> Compute(const Snapshot& s);

  Store* store_;
  std::mutex mu_;
  std::unordered_map<Hash128, SnapshotRecord, Hash128Hasher> cache_;  // by snapshot id
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_RECORD_TRAINING_RECORD_H_
