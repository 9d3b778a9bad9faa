#include "store/chain/refs.h"

#include <cctype>
#include <optional>

#include "store/index/keys.h"
#include "store/index/queries.h"

namespace ciuicfs {
namespace {

std::optional<int64_t> ParseInt(const std::string& s, bool allow_negative) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  size_t i = allow_negative && s[0] == '-' ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (size_t j = i; j < s.size(); ++j)
    if (!std::isdigit(static_cast<unsigned char>(s[j]))) return std::nullopt;
  return std::stoll(s);
}

}  // namespace

Status Refs::ValidateTagName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] != '.' && name != "latest" &&
            name.rfind("latest~", 0) != 0 && name.rfind("step-", 0) != 0 &&
            name.rfind("best-", 0) != 0;  // best-METRIC (store/record/)
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  if (!ok)
    return Status::InvalidArgument("bad tag name '" + name +
                                   "': use 1-64 of A-Z a-z 0-9 . _ -, not starting with '.', not 'latest', 'step-...' or 'best-...'");
  return Status::Ok();
}

Status Refs::SetTag(Txn& txn, const std::string& name, uint64_t seq) const {
  CIUIC_RETURN_IF_ERROR(ValidateTagName(name));
  auto snap = chain_->Get(txn, seq);
  if (!snap.ok()) return snap.status();
  return txn.Put(Db::kTags, TagKey(name), EncodeSeqValue(seq));
}

Status Refs::DeleteTag(Txn& txn, const std::string& name) const {
  auto v = txn.Get(Db::kTags, TagKey(name));
  if (!v.ok()) return v.status();
  if (!*v) return Status::NotFound("no tag '" + name + "'");
  return txn.Del(Db::kTags, TagKey(name));
}

Result<std::map<std::string, uint64_t>> Refs::Tags(Txn& txn) const { return LoadNamedSeqs(txn, Db::kTags); }

Result<Snapshot> Refs::Resolve(Txn& txn, const std::string& ref, const std::string& branch) const {
  if (ref == "latest" || ref.rfind("latest~", 0) == 0) {
    int64_t back = 0;
    if (ref != "latest") {
      auto k = ParseInt(ref.substr(7), false);
      if (!k) return Status::InvalidArgument("bad reference '" + ref + "': want latest~K");
      back = *k;
    }
    auto snaps = chain_->Line(txn, branch);
    if (!snaps.ok()) return snaps.status();
    if (int64_t(snaps->size()) <= back)
      return Status::NotFound(snaps->empty() ? "the store has no snapshots" : "no snapshot " + ref);
    return (*snaps)[snaps->size() - 1 - size_t(back)];
  }
  if (ref.rfind("step-", 0) == 0) {
    auto step = ParseInt(ref.substr(5), true);
    if (!step) return Status::InvalidArgument("bad reference '" + ref + "': want step-N");
    return chain_->FindByStep(txn, *step, branch);
  }
  Result<std::optional<std::string_view>> v = std::optional<std::string_view>();
  if (ValidateTagName(ref).ok()) v = txn.Get(Db::kTags, TagKey(ref));
  if (!v.ok()) return v.status();
  if (*v) {
    uint64_t seq;
    if (!DecodeSeqValue(**v, &seq)) return CorruptRow(Db::kTags, ref);
    return chain_->Get(txn, seq);
  }
  if (ValidateBranchName(ref).ok()) {
    auto head = chain_->Head(txn, ref);
    if (head.ok() && *head) return **head;
    if (!head.ok() && !head.status().IsNotFound()) return head.status();
  }
  if (ref.size() >= 8 && ref.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos)
    return chain_->FindByIdPrefix(txn, ref);
  return Status::NotFound("no snapshot matches '" + ref + "' (want an id prefix of 8+ hex digits, step-N, latest, "
                          "latest~K, a tag or a branch)");
}

}  // namespace ciuicfs
