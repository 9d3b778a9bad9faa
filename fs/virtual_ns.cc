// The read-only @ namespace at the mount root (DESIGN.md, "Virtual paths").
#include <algorithm>
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

const TreeEntry* Filesystem::SnapTree::Find(const std::string& path) const {
  auto it = std::lower_bound(tree.begin(), tree.end(), path,
                             [](const TreeEntry& e, const std::string& p) { return e.path < p; });
  return it != tree.end() && it->path == path ? &*it : nullptr;
}

std::vector<const TreeEntry*> Filesystem::SnapTree::Children(const std::string& dir) const {
  const std::string prefix = dir.empty() ? "" : dir + "/";
  std::vector<const TreeEntry*> out;
  auto it = std::lower_bound(tree.begin(), tree.end(), prefix,
                             [](const TreeEntry& e, const std::string& p) { return e.path < p; });
  for (; it != tree.end() && it->path.compare(0, prefix.size(), prefix) == 0; ++it)
    if (it->path.size() > prefix.size() && it->path.find('/', prefix.size()) == std::string::npos)
      out.push_back(&*it);
  return out;
}

std::string Filesystem::HistoryName(const Snapshot& s) {
  char name[96];
  std::snprintf(name, sizeof(name), "%08llu-step-%lld-%s", (unsigned long long)s.seq, (long long)s.step,
                s.id.Hex().substr(0, 8).c_str());
  return name;
}

Result<std::shared_ptr<const Filesystem::SnapTree>> Filesystem::LoadSnap(uint64_t seq) {
  auto it = snaps_.find(seq);
  if (it != snaps_.end()) return it->second;
  auto snap = store_->GetSnapshot(seq);
  if (!snap.ok()) return snap.status();
  auto tree = store_->GetTree(snap->tree);
  if (!tree.ok()) return tree.status();
  auto t = std::make_shared<SnapTree>();
  t->snap = std::move(snap.value());
  t->tree = std::move(tree.value());
  snaps_[seq] = t;
  return std::shared_ptr<const SnapTree>(t);
}

Result<Filesystem::NodePtr> Filesystem::SnapNode(const std::shared_ptr<const SnapTree>& tree,
                                                 const std::string& path) {
  auto key = std::make_pair(tree->snap.seq, path);
  auto it = snap_inodes_.find(key);
  if (it != snap_inodes_.end()) return Get(it->second);
  TreeEntry entry;
  if (path.empty()) {
    entry = TreeEntry{"", EntryKind::kDirectory, 0555, 0, tree->snap.time_ns, {}};
  } else {
    const TreeEntry* e = tree->Find(path);
    if (!e) return NodePtr();
    entry = *e;
  }
  NodePtr n = NewNode(entry.kind == EntryKind::kDirectory ? kSnapDir : kSnapFile);
  n->seq = tree->snap.seq;
  n->snap = tree;
  n->entry = std::move(entry);
  n->uid = getuid();
  n->gid = getgid();
  snap_inodes_[key] = n->ino;
  return n;
}

Filesystem::NodePtr Filesystem::SnapRoot(const Snapshot& s) {
  auto it = snap_inodes_.find(std::make_pair(s.seq, std::string()));
  if (it != snap_inodes_.end()) return Get(it->second);
  NodePtr n = NewNode(kSnapDir);
  n->seq = s.seq;
  n->entry = TreeEntry{"", EntryKind::kDirectory, 0555, 0, s.time_ns, {}};
  n->uid = getuid();
  n->gid = getgid();
  snap_inodes_[std::make_pair(s.seq, std::string())] = n->ino;
  return n;
}

Result<std::shared_ptr<const Filesystem::SnapTree>> Filesystem::SnapOf(Node& dir) {
  if (!dir.snap) {
    auto tree = LoadSnap(dir.seq);
    if (!tree.ok()) return tree.status();
    dir.snap = *tree;
  }
  return dir.snap;
}

Result<Filesystem::NodePtr> Filesystem::LookupVirtualRoot(const std::string& name, double* timeout) {
  std::optional<uint64_t> seq;
  *timeout = 86400.0;
  if (name == "@history") return history_;
  if (name == "@latest") {
    auto head = store_->Head();
    if (!head.ok()) return head.status();
    if (!head->has_value()) return NodePtr();
    seq = (*head)->seq;
    *timeout = 0;  // the head moves
  } else if (name.rfind("@step-", 0) == 0) {
    auto step = ParseStrictInt(name.substr(6));
    if (!step) return NodePtr();
    auto snap = store_->FindByStep(*step);
    if (!snap.ok()) return snap.status().IsNotFound() ? Result<NodePtr>(NodePtr()) : snap.status();
    seq = snap->seq;
    *timeout = 0;  // a newer snapshot may take this step
  } else if (name.rfind("@tag-", 0) == 0) {
    auto tags = store_->Tags();
    if (!tags.ok()) return tags.status();
    auto it = tags->find(name.substr(5));
    if (it == tags->end()) return NodePtr();
    seq = it->second;
    *timeout = 0;  // a tag can be moved
  } else if (name.size() >= 9 && name.size() <= 33 && IsHex(name.substr(1))) {
    auto snap = store_->FindByIdPrefix(name.substr(1));
    if (!snap.ok()) {
      if (snap.status().code() == Status::Code::kInvalidArgument) LogLine(name + ": " + snap.status().message());
      return NodePtr();
    }
    seq = snap->seq;
  } else {
    return NodePtr();
  }
  auto tree = LoadSnap(*seq);
  if (!tree.ok()) return tree.status();
  return SnapNode(*tree, "");
}

Result<Filesystem::NodePtr> Filesystem::LookupInSnap(Node& dir, const std::string& name) {
  if (dir.kind == kHistory) {
    size_t dash = name.find('-');
    auto seq = ParseStrictInt(name.substr(0, dash));
    if (!seq || *seq <= 0) return NodePtr();
    auto snap = store_->GetSnapshot(uint64_t(*seq));
    if (!snap.ok()) return snap.status().IsNotFound() ? Result<NodePtr>(NodePtr()) : snap.status();
    if (HistoryName(*snap) != name) return NodePtr();
    return SnapRoot(*snap);  // its tree loads when first looked into
  }
  if (name == "." || name == "..") return NodePtr();
  auto tree = SnapOf(dir);
  if (!tree.ok()) return tree.status();
  const std::string path = dir.entry.path.empty() ? name : dir.entry.path + "/" + name;
  return SnapNode(*tree, path);
}

Status Filesystem::ListVirtual(Node& dir, std::vector<std::tuple<std::string, fuse_ino_t, mode_t>>* out) {
  if (dir.kind == kHistory) {
    auto snaps = store_->ListSnapshots();
    if (!snaps.ok()) return snaps.status();
    for (const Snapshot& s : *snaps) out->emplace_back(HistoryName(s), SnapRoot(s)->ino, S_IFDIR);
    return Status::Ok();
  }
  auto tree = SnapOf(dir);
  if (!tree.ok()) return tree.status();
  for (const TreeEntry* e : (*tree)->Children(dir.entry.path)) {
    auto n = SnapNode(*tree, e->path);
    if (!n.ok()) return n.status();
    out->emplace_back(e->path.substr(e->path.rfind('/') == std::string::npos ? 0 : e->path.rfind('/') + 1),
                      (*n)->ino, e->kind == EntryKind::kDirectory ? S_IFDIR : S_IFREG);
  }
  return Status::Ok();
}

}  // namespace ciuicfs
