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

Result<std::optional<Snapshot>> SnapshotChain::Head(Txn& txn, const std::string& branch) const {
  auto seq = BranchHead(txn, branch);
  if (!seq.ok()) return seq.status();
  if (*seq == 0) return std::optional<Snapshot>();
  auto s = Get(txn, *seq);
  if (s.status().IsNotFound()) return Status::Corruption("index: branch '" + branch + "' names missing snapshot " + std::to_string(*seq));
  if (!s.ok()) return s.status();
  return std::optional<Snapshot>(std::move(s.value()));
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

Result<std::vector<Snapshot>> SnapshotChain::Line(Txn& txn, const std::string& branch) const {
  auto head = BranchHead(txn, branch);
  if (!head.ok()) return head.status();
  auto forks = HasForks(txn);
  if (!forks.ok()) return forks.status();
  if (!*forks) return List(txn);  // one branch: every snapshot is on its line
  auto line = LineOf(txn, *head);
  if (!line.ok()) return line.status();
  std::vector<Snapshot> out;
  for (auto it = line->rbegin(); it != line->rend(); ++it) {
    auto s = Get(txn, *it);
    if (s.status().IsNotFound()) continue;  // dropped; its link stays
    if (!s.ok()) return s.status();
    out.push_back(std::move(s.value()));
  }
  return out;
}

Result<Snapshot> SnapshotChain::FindByStep(Txn& txn, int64_t step, const std::string& branch) const {
  auto head = BranchHead(txn, branch);
  if (!head.ok()) return head.status();
  auto forks = HasForks(txn);
  if (!forks.ok()) return forks.status();
  std::optional<uint64_t> seq;
  Status bad;
  CIUIC_RETURN_IF_ERROR(txn.ScanBack(Db::kSteps, StepKey(step, UINT64_MAX), [&](std::string_view k, std::string_view) {
    int64_t found_step;
    uint64_t found_seq;
    if (!DecodeStepKey(k, &found_step, &found_seq)) {
      bad = CorruptRow(Db::kSteps, k);
      return false;
    }
    if (found_step != step) return false;
    if (*forks) {  // the newest with this step on this branch's line
      auto on = OnLine(txn, found_seq, *head);
      if (!on.ok()) {
        bad = on.status();
        return false;
      }
      if (!*on) return true;
    }
    seq = found_seq;
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
  // No index of its own: a save would pay for it, and only this rare query
  // reads it; every snapshot's change list is read instead.
  std::vector<std::pair<uint64_t, Change>> out;
  Status bad;
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kSnapshots, "", [&](std::string_view k, std::string_view v) {
    auto s = DecodeSnapshotRow(k, v);
    if (!s.ok()) {
      bad = s.status();
      return false;
    }
    for (Change& c : s->changes)
      if (c.path == path) out.emplace_back(s->seq, std::move(c));
    return true;
  }));
  CIUIC_RETURN_IF_ERROR(bad);
  return out;
}

Status SnapshotChain::Append(Txn& txn, const std::string& branch, const std::optional<Snapshot>& head,
                             std::optional<int64_t> step, Snapshot* snap) const {
  auto newest = NewestSeq(txn);
  if (!newest.ok()) return newest.status();
  snap->seq = *newest + 1;
  snap->parent = head ? head->id : Hash128{};
  snap->step = step ? *step : head ? head->step : 0;
  snap->id = ComputeSnapshotId(*snap);
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kSnapshots, SeqKey(snap->seq), EncodeSnapshot(*snap)));
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kSnapshotIds, SnapshotIdKey(snap->id), EncodeSeqValue(snap->seq)));
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kSteps, StepKey(snap->step, snap->seq), ""));
  // The link is implied (sequence - 1) for a commit that follows the one
  // before it, the common case: a row only where the chain forks.
  const uint64_t parent_seq = head ? head->seq : 0;
  if (parent_seq != snap->seq - 1) CIUIC_RETURN_IF_ERROR(PutParent(txn, snap->seq, parent_seq));
  // Until the chain first forks, main's head is the newest snapshot without
  // a row (branches.h); the fork writes main's row first.
  if (branch == kMainBranch) {
    auto forks = HasForks(txn);
    if (!forks.ok()) return forks.status();
    if (!*forks) return Status::Ok();
  }
  return SetBranchHead(txn, branch, snap->seq);
}

Result<Snapshot> SnapshotChain::Drop(Txn& txn, uint64_t seq) const {
  auto heads = ListBranches(txn);
  if (!heads.ok()) return heads.status();
  for (auto& [name, head] : *heads) {
    if (head != seq) continue;
    if (heads->size() == 1) return Status::InvalidArgument("the head snapshot cannot be dropped");
    return Status::InvalidArgument("snapshot " + std::to_string(seq) + " is the head of branch '" + name + "'");
  }
  auto s = Get(txn, seq);
  if (!s.ok()) return s.status();
  // Its link stays, written out: lines cross it, and its number is never given again.
  auto parent = ParentOf(txn, seq);
  if (!parent.ok()) return parent.status();
  CIUIC_RETURN_IF_ERROR(PutParent(txn, seq, *parent));
  CIUIC_RETURN_IF_ERROR(txn.Del(Db::kSnapshots, SeqKey(seq)));
  CIUIC_RETURN_IF_ERROR(txn.Del(Db::kSnapshotIds, SnapshotIdKey(s->id)));
  CIUIC_RETURN_IF_ERROR(txn.Del(Db::kSteps, StepKey(s->step, seq)));
  return s;
}

}  // namespace ciuicfs
