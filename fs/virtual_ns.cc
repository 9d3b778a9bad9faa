// The read-only @ namespace at the mount root (DESIGN.md, "Virtual paths").
#include <cstdio>

#include "fs/filesystem.h"
#include "fs/node.h"
#include "store/store.h"

namespace ciuicfs {
namespace {

std::optional<int64_t> ParseStrictInt(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return std::nullopt;
  for (size_t j = i; j < s.size(); ++j)
    if (s[j] < '0' || s[j] > '9') return std::nullopt;
  return std::stoll(s);
}

bool IsHex(const std::string& s) { return s.find_first_not_of("0123456789abcdef") == std::string::npos; }

}  // namespace

std::string Filesystem::HistoryName(const Snapshot& s) {
  char name[96];
  std::snprintf(name, sizeof(name), "%08llu-step-%lld-%s", (unsigned long long)s.seq, (long long)s.step,
                s.id.Hex().substr(0, 8).c_str());
  return name;
}

Filesystem::NodePtr Filesystem::SnapNode(uint64_t seq, const Hash128& tree, const TreeEntry& entry) {
  auto key = std::make_pair(seq, entry.path);
  auto it = snap_inodes_.find(key);
  if (it != snap_inodes_.end()) return Get(it->second);
  NodePtr n = NewNode(entry.kind == EntryKind::kDirectory ? kSnapDir : kSnapFile);
  n->seq = seq;
  n->tree = tree;
  n->entry = entry;
  snap_inodes_[key] = n->ino;
  return n;
}

fuse_ino_t Filesystem::KnownSnapIno(uint64_t seq, const std::string& path) const {
  auto it = snap_inodes_.find(std::make_pair(seq, path));
  return it == snap_inodes_.end() ? kUnknownIno : it->second;
}

Filesystem::NodePtr Filesystem::SnapRoot(const Snapshot& s) {
  TreeEntry root{"", EntryKind::kDirectory, 0555, 0, s.time_ns, {}, {}};
  root.attrs.uid = getuid();  // the daemon's, as the live root is
  root.attrs.gid = getgid();
  return SnapNode(s.seq, s.tree, root);
}

Result<Filesystem::NodePtr> Filesystem::LookupVirtualRoot(const std::string& name, double* timeout) {
  Result<Snapshot> snap = Status::NotFound(name);
  *timeout = 86400.0;
  if (name == "@history") return history_;
  if (name.rfind("@branch-", 0) == 0) {
    auto head = store_->Head(name.substr(8));
    if (!head.ok()) return head.status().IsNotFound() ? Result<NodePtr>(NodePtr()) : head.status();
    if (!head->has_value()) return NodePtr();
    snap = std::move(**head);
    *timeout = 0;  // its head moves
  } else if (name == "@latest") {
    auto head = store_->Head(branch());
    if (!head.ok()) return head.status();
    if (!head->has_value()) return NodePtr();
    snap = std::move(**head);
    *timeout = 0;  // the head moves
  } else if (name.rfind("@step-", 0) == 0) {
    auto step = ParseStrictInt(name.substr(6));
    if (!step) return NodePtr();
    snap = store_->FindByStep(*step, branch());
    if (!snap.ok()) return snap.status().IsNotFound() ? Result<NodePtr>(NodePtr()) : snap.status();
    *timeout = 0;  // a newer snapshot may take this step
  } else if (name.rfind("@best-", 0) == 0) {  // store/record/README.md
    snap = store_->ResolveRef(name.substr(1), branch());
    if (!snap.ok()) return snap.status().IsNotFound() || snap.status().code() == Status::Code::kInvalidArgument
                               ? Result<NodePtr>(NodePtr())
                               : snap.status();
    *timeout = 0;  // a later save may do better
  } else if (name.rfind("@tag-", 0) == 0) {
    auto tags = store_->Tags();
    if (!tags.ok()) return tags.status();
    auto it = tags->find(name.substr(5));
    if (it == tags->end()) return NodePtr();
    snap = store_->GetSnapshot(it->second);
    if (!snap.ok()) return snap.status();
    *timeout = 0;  // a tag can be moved
  } else if (name.size() >= 9 && name.size() <= 33 && IsHex(name.substr(1))) {
    snap = store_->FindByIdPrefix(name.substr(1));
    if (!snap.ok()) {
      if (snap.status().code() == Status::Code::kInvalidArgument) LogLine(name + ": " + snap.status().message());
      return NodePtr();
    }
  } else {
    return NodePtr();
  }
  return SnapRoot(*snap);
}

Result<Filesystem::NodePtr> Filesystem::LookupInSnap(Node& dir, const std::string& name) {
  if (dir.kind == kHistory) {
    size_t dash = name.find('-');
    auto seq = ParseStrictInt(name.substr(0, dash));
    if (!seq || *seq <= 0) return NodePtr();
    auto snap = store_->GetSnapshot(uint64_t(*seq));
    if (!snap.ok()) return snap.status().IsNotFound() ? Result<NodePtr>(NodePtr()) : snap.status();
    if (HistoryName(*snap) != name) return NodePtr();
    return SnapRoot(*snap);
  }
  if (name == "." || name == "..") return NodePtr();
  const std::string path = dir.entry.path.empty() ? name : dir.entry.path + "/" + name;
  // A snapshot is immutable: a path with a node needs no store read.
  auto it = snap_inodes_.find(std::make_pair(dir.seq, path));
  if (it != snap_inodes_.end()) return Get(it->second);
  auto entry = store_->LookupInTree(dir.tree, path);
  if (!entry.ok()) return entry.status();
  if (!*entry) return NodePtr();
  return SnapNode(dir.seq, dir.tree, **entry);
}

Status Filesystem::ListVirtual(Node& dir, std::vector<std::tuple<std::string, fuse_ino_t, mode_t>>* out) {
  if (dir.kind == kHistory) {
    auto snaps = store_->BranchLine(branch());
    if (!snaps.ok()) return snaps.status();
    for (const Snapshot& s : *snaps) out->emplace_back(HistoryName(s), KnownSnapIno(s.seq, ""), S_IFDIR);
    return Status::Ok();
  }
  auto entries = store_->ListTreeDir(dir.tree, dir.entry.path);
  if (!entries.ok()) return entries.status();
  for (const TreeEntry& e : *entries) {
    const size_t slash = e.path.rfind('/');
    out->emplace_back(e.path.substr(slash == std::string::npos ? 0 : slash + 1), KnownSnapIno(dir.seq, e.path),
                      FileType(e.kind));
  }
  return Status::Ok();
}

}  // namespace ciuicfs
