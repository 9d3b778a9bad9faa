// A retention policy and the pure choice of the snapshots it drops
// (store/retention/README.md).
#ifndef CIUICFS_STORE_RETENTION_POLICY_H_
#define CIUICFS_STORE_RETENTION_POLICY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/base/status.h"
#include "store/index/rows.h"

namespace ciuicfs {

struct RetentionPolicy {
  std::optional<uint64_t> keep_last;
  std::optional<int64_t> keep_every_steps;  // > 0
  std::optional<int64_t> keep_within_ns;    // > 0
  std::optional<uint64_t> keep_hourly;
  std::optional<uint64_t> keep_daily;
  bool keep_tagged = true;
  bool empty() const { return !keep_last && !keep_every_steps && !keep_within_ns && !keep_hourly && !keep_daily; }
  bool operator==(const RetentionPolicy&) const = default;
};

// "keep-last=5,keep-every-steps=50,keep-within=7d" (dashes or underscores;
// "" is the empty policy). InvalidArgument, one line, on anything else.
Result<RetentionPolicy> ParseRetentionPolicy(const std::string& text);
// The same text back, rules in a fixed order ("" when empty).
std::string FormatRetentionPolicy(const RetentionPolicy& p);
// "90s", "30m", "12h", "7d", "2w" as nanoseconds.
Result<int64_t> ParseDuration(const std::string& text);

// What the store holds, for the choice: every branch's line (oldest first)
// and head, and the tagged sequences.
struct RetentionInput {
  std::map<std::string, std::vector<Snapshot>> lines;
  std::map<std::string, uint64_t> heads;  // 0: no snapshot yet
  std::set<uint64_t> tagged;
  std::vector<Snapshot> all;  // every retained snapshot, oldest first
};
// The sequences the policy drops, ascending.
std::vector<uint64_t> SelectDrops(const RetentionPolicy& p, const RetentionInput& in);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_RETENTION_POLICY_H_
