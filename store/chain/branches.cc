#include "store/chain/branches.h"
#include "store/chain/snapshot_chain.h"

#include <algorithm>
#include <cctype>

#include "store/index/keys.h"
#include "store/index/queries.h"
#include "store/index/rows.h"

namespace ciuicfs {

Result<uint64_t> NewestSeq(Txn& txn) {
  uint64_t newest = 0;
  Status bad;
  for (Db db : {Db::kSnapshots, Db::kParents}) {  // parents outlive dropped snapshots: never reuse a number
    CIUIC_RETURN_IF_ERROR(txn.ScanBack(db, SeqKey(UINT64_MAX), [&](std::string_view k, std::string_view) {
      uint64_t seq;
      if (!DecodeSeqKey(k, &seq)) bad = CorruptRow(db, k);
      else newest = std::max(newest, seq);
      return false;
    }));
  }
  CIUIC_RETURN_IF_ERROR(bad);
  return newest;
}

Status ValidateBranchName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] != '.' && name[0] != '-' &&
            name.find("..") == std::string::npos;
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  if (!ok)
    return Status::InvalidArgument("bad branch name '" + name +
                                   "': use 1-64 of A-Z a-z 0-9 . _ -, not starting with '.' or '-', no '..'");
  return Status::Ok();
}

Result<uint64_t> BranchHead(Txn& txn, const std::string& name) {
  auto v = txn.Get(Db::kBranches, name);
  if (!v.ok()) return v.status();
  if (*v) {
    uint64_t seq;
    if (!DecodeSeqValue(**v, &seq)) return CorruptRow(Db::kBranches, name);
    return seq;
  }
  if (name != kMainBranch) return Status::NotFound("no branch '" + name + "'");
  return NewestSeq(txn);  // main without a row: a store from before branches, one line
}

Result<std::map<std::string, uint64_t>> ListBranches(Txn& txn) {
  auto rows = LoadNamedSeqs(txn, Db::kBranches);
  if (!rows.ok()) return rows.status();
  std::map<std::string, uint64_t> out = std::move(rows.value());
  if (!out.count(kMainBranch)) {
    auto main = BranchHead(txn, kMainBranch);
    if (!main.ok()) return main.status();
    out[kMainBranch] = *main;
  }
  return out;
}

Status SetBranchHead(Txn& txn, const std::string& name, uint64_t seq) {
  return txn.Put(Db::kBranches, name, EncodeSeqValue(seq));
}

Status CreateBranch(Txn& txn, const SnapshotChain& chain, const std::string& name, uint64_t seq) {
  CIUIC_RETURN_IF_ERROR(ValidateBranchName(name));
  auto branches = ListBranches(txn);
  if (!branches.ok()) return branches.status();
  if (branches->count(name)) return Status::InvalidArgument("branch '" + name + "' exists");
  if (seq != 0) {
    auto snap = chain.Get(txn, seq);
    if (!snap.ok()) return snap.status();
  }
  CIUIC_RETURN_IF_ERROR(SetBranchHead(txn, kMainBranch, branches->at(kMainBranch)));
  return SetBranchHead(txn, name, seq);
}

Status DeleteBranchRow(Txn& txn, const std::string& name) { return txn.Del(Db::kBranches, name); }

Result<uint64_t> ParentOf(Txn& txn, uint64_t seq) {
  auto v = txn.Get(Db::kParents, SeqKey(seq));
  if (!v.ok()) return v.status();
  if (!*v) return seq > 0 ? seq - 1 : 0;  // a snapshot from before branches: the chain was one line
  uint64_t parent;
  if (!DecodeSeqValue(**v, &parent) || parent >= seq) return CorruptRow(Db::kParents, SeqKey(seq));
  return parent;
}

Status PutParent(Txn& txn, uint64_t seq, uint64_t parent) {
  return txn.Put(Db::kParents, SeqKey(seq), EncodeSeqValue(parent));
}

Result<bool> OnLine(Txn& txn, uint64_t seq, uint64_t head) {
  uint64_t cur = head;
  while (cur > seq) {
    auto p = ParentOf(txn, cur);
    if (!p.ok()) return p.status();
    cur = *p;
  }
  return cur == seq && seq != 0;
}

Result<std::vector<uint64_t>> LineOf(Txn& txn, uint64_t head) {
  std::vector<uint64_t> out;
  for (uint64_t cur = head; cur != 0;) {
    out.push_back(cur);
    auto p = ParentOf(txn, cur);
    if (!p.ok()) return p.status();
    cur = *p;
  }
  return out;
}

Result<bool> HasForks(Txn& txn) {
  bool any = false;  // main gets a row only when the first other branch is made
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kBranches, "", [&](std::string_view, std::string_view) {
    any = true;
    return false;
  }));
  return any;
}

}  // namespace ciuicfs
