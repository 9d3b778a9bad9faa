// Tags and snapshot references (FORMAT.md, `tags`).
#include <cctype>
#include <string>

#include "store/coding.h"
#include "store/index_access.h"
#include "store/lmdb_env.h"
#include "store/store.h"

namespace ciuicfs {
namespace {

Status ValidateTagName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] != '.' && name != "latest" &&
            name.rfind("latest~", 0) != 0 && name.rfind("step-", 0) != 0;
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  if (!ok)
    return Status::InvalidArgument("bad tag name '" + name +
                                   "': use 1-64 of A-Z a-z 0-9 . _ -, not starting with '.', not 'latest' or 'step-...'");
  return Status::Ok();
}

std::optional<int64_t> ParseInt(const std::string& s, bool allow_negative) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  size_t i = allow_negative && s[0] == '-' ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (size_t j = i; j < s.size(); ++j)
    if (!std::isdigit(static_cast<unsigned char>(s[j]))) return std::nullopt;
  return std::stoll(s);
}

}  // namespace

Status Store::SetTag(const std::string& name, uint64_t seq) {
  CIUIC_RETURN_IF_ERROR(ValidateTagName(name));
  return env_->Write([&](Txn& txn) -> Status {
    auto snap = txn.Get(Db::kSnapshots, SeqKey(seq));
    if (!snap.ok()) return snap.status();
    if (!*snap) return Status::NotFound("no snapshot with sequence " + std::to_string(seq));
    std::string v;
    PutLE<uint64_t>(&v, seq);
    return txn.Put(Db::kTags, name, v);
  });
}

Status Store::DeleteTag(const std::string& name) {
  return env_->Write([&](Txn& txn) -> Status {
    auto v = txn.Get(Db::kTags, name);
    if (!v.ok()) return v.status();
    if (!*v) return Status::NotFound("no tag '" + name + "'");
    return txn.Del(Db::kTags, name);
  });
}

Result<std::map<std::string, uint64_t>> Store::Tags() {
  auto txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  std::map<std::string, uint64_t> tags;
  CIUIC_RETURN_IF_ERROR((*txn)->Scan(Db::kTags, "", [&](std::string_view k, std::string_view v) {
    if (v.size() == 8) tags[std::string(k)] = LoadLE<uint64_t>(v.data());
    return true;
  }));
  return tags;
}

Result<Snapshot> Store::ResolveRef(const std::string& ref) {
  if (ref == "latest" || ref.rfind("latest~", 0) == 0) {
    int64_t back = 0;
    if (ref != "latest") {
      auto k = ParseInt(ref.substr(7), false);
      if (!k) return Status::InvalidArgument("bad reference '" + ref + "': want latest~K");
      back = *k;
    }
    auto snaps = ListSnapshots();
    if (!snaps.ok()) return snaps.status();
    if (int64_t(snaps->size()) <= back)
      return Status::NotFound(snaps->empty() ? "the store has no snapshots" : "no snapshot " + ref);
    return (*snaps)[snaps->size() - 1 - size_t(back)];
  }
  if (ref.rfind("step-", 0) == 0) {
    auto step = ParseInt(ref.substr(5), true);
    if (!step) return Status::InvalidArgument("bad reference '" + ref + "': want step-N");
    return FindByStep(*step);
  }
  auto tags = Tags();
  if (!tags.ok()) return tags.status();
  auto tag = tags->find(ref);
  if (tag != tags->end()) return GetSnapshot(tag->second);
  if (ref.size() >= 8 && ref.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos)
    return FindByIdPrefix(ref);
  return Status::NotFound("no snapshot matches '" + ref + "' (want an id prefix of 8+ hex digits, step-N, latest, "
                          "latest~K or a tag)");
}

}  // namespace ciuicfs
