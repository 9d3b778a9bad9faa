#include "store/chain/snapshot_chain.h"

#include <cctype>
#include <string>

#include "store/index/keys.h"
#include "store/index/queries.h"

namespace ciuicfs {
namespace {

Result<Snapshot> DecodeSnapshotRow(std::string_view k, std::string_view v) {
  Snapshot s;
  if (!DecodeSnapshot(v, &s)) return CorruptRow(Db::kSnapshots, k);
  return s;
}

}  // namespace

Result<std::optional<Snapshot>> SnapshotChain::Head(Txn& txn) const {
  std::optional<Result<Snapshot>> head;
  CIUIC_RETURN_IF_ERROR(txn.ScanBack(Db::kSnapshots, SeqKey(UINT64_MAX), [&](std::string_view k, std::string_view v) {
    head.emplace(DecodeSnapshotRow(k, v));
    return false;
  }));
  if (!head) return std::optional<Snapshot>();
  if (!head->ok()) return head->status();
  return std::optional<Snapshot>(std::move(head->value()));
}

Result<Snapshot> SnapshotChain::Get(Txn& txn, uint64_t seq) const {
  const std::string key = SeqKey(seq);
  auto v = txn.Get(Db::kSnapshots, key);
  if (!v.ok()) return v.status();
  if (!*v) return Status::NotFound("no snapshot with sequence " + std::to_string(seq));
  return DecodeSnapshotRow(key, **v);
}

Result<std::vector<Snapshot>> SnapshotChain::List(Txn& txn) const {
  std::vector<Snapshot> out;
  Status bad;
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kSnapshots, "", [&](std::string_view k, std::string_view v) {
    auto s = DecodeSnapshotRow(k, v);
    if (!s.ok()) bad = s.status();
    else out.push_back(std::move(s.value()));
    return bad.ok();
  }));
  CIUIC_RETURN_IF_ERROR(bad);
  return out;
}

Result<Snapshot> SnapshotChain::FindByStep(Txn& txn, int64_t step) const {
  std::optional<uint64_t> seq;
  Status bad;
  CIUIC_RETURN_IF_ERROR(txn.ScanBack(Db::kSteps, StepKey(step, UINT64_MAX), [&](std::string_view k, std::string_view) {
    int64_t found_step;
    uint64_t found_seq;
    if (!DecodeStepKey(k, &found_step, &found_seq)) bad = CorruptRow(Db::kSteps, k);
    else if (found_step == step) seq = found_seq;
    return false;
  }));
  CIUIC_RETURN_IF_ERROR(bad);
  if (!seq) return Status::NotFound("no snapshot with step " + std::to_string(step));
  auto s = Get(txn, *seq);
  if (s.status().IsNotFound()) return Status::Corruption("index: step row names missing snapshot " + std::to_string(*seq));
  return s;
}

Result<Snapshot> SnapshotChain::FindByIdPrefix(Txn& txn, std::string_view prefix) const {
  if (prefix.size() < 8 || prefix.size() > 32 ||
      prefix.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos)
    return Status::InvalidArgument("snapshot id prefix must be 8 to 32 hex digits");
  std::string lower(prefix);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto start = Hash128::FromHex(lower + std::string(32 - lower.size(), '0'));
  std::vector<uint64_t> matches;
  Status bad;
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kSnapshotIds, SnapshotIdKey(*start), [&](std::string_view k, std::string_view v) {
    Hash128 id;
    uint64_t seq;
    if (!DecodeSnapshotIdKey(k, &id) || !DecodeSeqValue(v, &seq)) {
      bad = CorruptRow(Db::kSnapshotIds, k);
      return false;
    }
    if (id.Hex().compare(0, lower.size(), lower) != 0) return false;
    matches.push_back(seq);
    return matches.size() < 2;
  }));
  CIUIC_RETURN_IF_ERROR(bad);
  if (matches.empty()) return Status::NotFound("no snapshot id starts with " + lower);
  if (matches.size() > 1) return Status::InvalidArgument("snapshot id prefix " + lower + " is ambiguous");
  auto s = Get(txn, matches[0]);
  if (s.status().IsNotFound()) return Status::Corruption("index: id row names missing snapshot");
  return s;
}

Result<std::vector<std::pair<uint64_t, Change>>> SnapshotChain::PathHistory(Txn& txn, std::string_view path) const {
  std::vector<std::pair<uint64_t, Change>> out;
  const std::string prefix = PathPrefix(path);
  Status bad;
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kPaths, prefix, [&](std::string_view k, std::string_view v) {
    if (k.compare(0, prefix.size(), prefix) != 0) return false;
    uint64_t seq;
    PathRow row;
    if (!DecodePathKey(k, path, &seq) || !DecodePathRow(v, &row)) {
      bad = CorruptRow(Db::kPaths, k);
      return false;
    }
    out.emplace_back(seq, Change{row.kind, std::string(path), row.version, row.size});
    return true;
  }));
  CIUIC_RETURN_IF_ERROR(bad);
  return out;
}

Status SnapshotChain::Append(Txn& txn, std::optional<int64_t> step, Snapshot* snap) const {
  auto head = Head(txn);
  if (!head.ok()) return head.status();
  snap->seq = *head ? (*head)->seq + 1 : 1;
  snap->parent = *head ? (*head)->id : Hash128{};
  snap->step = step ? *step : *head ? (*head)->step : 0;
  snap->id = ComputeSnapshotId(*snap);
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kSnapshots, SeqKey(snap->seq), EncodeSnapshot(*snap)));
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kSnapshotIds, SnapshotIdKey(snap->id), EncodeSeqValue(snap->seq)));
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kSteps, StepKey(snap->step, snap->seq), ""));
  for (const Change& c : snap->changes)
    CIUIC_RETURN_IF_ERROR(
        txn.Put(Db::kPaths, PathKey(c.path, snap->seq), EncodePathRow(PathRow{c.kind, c.version, c.size})));
  return Status::Ok();
}

Result<Snapshot> SnapshotChain::Drop(Txn& txn, uint64_t seq) const {
  auto head = Head(txn);
  if (!head.ok()) return head.status();
  if (*head && (*head)->seq == seq) return Status::InvalidArgument("the head snapshot cannot be dropped");
  auto s = Get(txn, seq);
  if (!s.ok()) return s.status();
  CIUIC_RETURN_IF_ERROR(txn.Del(Db::kSnapshots, SeqKey(seq)));
  CIUIC_RETURN_IF_ERROR(txn.Del(Db::kSnapshotIds, SnapshotIdKey(s->id)));
  CIUIC_RETURN_IF_ERROR(txn.Del(Db::kSteps, StepKey(s->step, seq)));
  for (const Change& c : s->changes) CIUIC_RETURN_IF_ERROR(txn.Del(Db::kPaths, PathKey(c.path, seq)));
  return s;
}

}  // namespace ciuicfs
