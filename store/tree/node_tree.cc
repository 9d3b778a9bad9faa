#include "store/tree/node_tree.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <utility>

#include "store/base/chunk_id.h"
#include "store/base/crash_point.h"
#include "store/index/keys.h"
#include "store/index/queries.h"

namespace ciuicfs {
namespace {

constexpr uint64_t kCutSeed = 0x6369756963646972;  // "ciuicdir"
constexpr uint64_t kCutMask = 15;                  // one name in 16 ends a node

// ---- Rows

Result<Node> ReadNode(Txn& txn, const Hash128& id, uint32_t* refcount = nullptr) {
  const std::string key = HashKey(id);
  auto v = txn.Get(Db::kNodes, key);
  if (!v.ok()) return v.status();
  if (!*v) return Status::NotFound("no tree node " + id.Hex());
  Node node;
  uint32_t rc;
  if (!DecodeNodeRow(**v, &rc, &node)) return CorruptRow(Db::kNodes, key);
  if (refcount) *refcount = rc;
  return node;
}

// Stores `node` unless it is stored already; a new row starts at refcount
// 0 (its parent or snapshot adds the reference) and adds one reference to
// each node and version it names, into `refs` (written to the log by the
// caller). Returns its id.
Result<Hash128> StoreNode(Txn& txn, const Node& node, RefDeltas* refs) {
  const std::string encoded = EncodeNode(node);
  const Hash128 id = Hash128::Of(encoded);
  const std::string key = HashKey(id);
  auto v = txn.Get(Db::kNodes, key);
  if (!v.ok()) return v.status();
  if (*v) return id;
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kNodes, key, EncodeNodeRow(0, encoded)));
  for (const NodeEntry& e : node.entries) {
    if (e.kind == EntryKind::kDirectory) {
      if (!e.id.IsZero()) ++refs->nodes[e.id];
      continue;
    }
    auto m = txn.Get(Db::kManifests, HashKey(e.id));  // a read: the row is not touched
    if (!m.ok()) return m.status();
    if (!*m) return Status::Corruption("index: a tree names missing version " + e.id.Hex());
    ++refs->versions[e.id];
  }
  for (const NodeChild& c : node.children) ++refs->nodes[c.id];
  return id;
}

// ---- The reference log (FORMAT.md, "Deferred counts")

// Settle after this many commits' rows: one commit in 64 applies them.
constexpr uint64_t kSettleRows = 64;

// First and last key of the log; nullopt when it is empty.
Result<std::optional<std::pair<uint64_t, uint64_t>>> LogRange(Txn& txn) {
  std::optional<uint64_t> first, last;
  Status bad;
  auto key_of = [&](std::string_view k, std::optional<uint64_t>* out) {
    uint64_t seq;
    if (!DecodeSeqKey(k, &seq)) bad = CorruptRow(Db::kRefLog, k);
    else *out = seq;
    return false;
  };
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kRefLog, "", [&](std::string_view k, std::string_view) { return key_of(k, &first); }));
  CIUIC_RETURN_IF_ERROR(
      txn.ScanBack(Db::kRefLog, SeqKey(UINT64_MAX), [&](std::string_view k, std::string_view) { return key_of(k, &last); }));
  CIUIC_RETURN_IF_ERROR(bad);
  if (!first || !last) return std::optional<std::pair<uint64_t, uint64_t>>();
  return std::optional<std::pair<uint64_t, uint64_t>>(std::make_pair(*first, *last));
}

// Every row of the log, summed.
Result<RefDeltas> ReadLog(Txn& txn, std::vector<std::string>* keys) {
  RefDeltas sum;
  Status bad;
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kRefLog, "", [&](std::string_view k, std::string_view v) {
    if (!DecodeRefDeltas(v, &sum)) {
      bad = CorruptRow(Db::kRefLog, k);
      return false;
    }
    if (keys) keys->emplace_back(k);
    return true;
  }));
  CIUIC_RETURN_IF_ERROR(bad);
  return sum;
}

// Applies every logged delta to its row and empties the log.
Status SettleLog(Txn& txn) {
  std::vector<std::string> keys;
  auto sum = ReadLog(txn, &keys);
  if (!sum.ok()) return sum.status();
  for (auto& [id, n] : sum->nodes) CIUIC_RETURN_IF_ERROR(AddRowRefs(txn, Db::kNodes, id, n, "node"));
  VersionUses uses;
  for (auto& [id, n] : sum->versions) uses[id] = static_cast<uint32_t>(n);
  CIUIC_RETURN_IF_ERROR(AddVersionRefs(txn, uses));
  CrashPoint("tree.settle");  // counts applied, log not yet emptied: the transaction is lost whole
  for (const std::string& k : keys) CIUIC_RETURN_IF_ERROR(txn.Del(Db::kRefLog, k));
  return Status::Ok();
}

// Appends one commit's deltas; settles the log when it has grown long.
Status LogRefs(Txn& txn, const RefDeltas& refs) {
  if (refs.empty()) return Status::Ok();
  auto range = LogRange(txn);
  if (!range.ok()) return range.status();
  const uint64_t next = *range ? (*range)->second + 1 : 1;
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kRefLog, SeqKey(next), EncodeRefDeltas(refs)));
  if (*range && next - (*range)->first + 1 >= kSettleRows) return SettleLog(txn);
  return Status::Ok();
}

Status ReleaseNode(Txn& txn, const Hash128& id) {
  if (id.IsZero()) return Status::Ok();
  const std::string key = HashKey(id);
  auto v = txn.Get(Db::kNodes, key);
  if (!v.ok()) return v.status();
  if (!*v) return Status::Corruption("index: a tree names missing node " + id.Hex());
  uint32_t rc;
  Node node;
  if (!DecodeNodeRow(**v, &rc, &node)) return CorruptRow(Db::kNodes, key);
  if (rc > 1) {
    std::string row(**v);
    SetRowRefcount(&row, rc - 1);
    return txn.Put(Db::kNodes, key, row);
  }
  CIUIC_RETURN_IF_ERROR(txn.Del(Db::kNodes, key));
  VersionUses uses;
  for (const NodeEntry& e : node.entries) {
    if (e.kind == EntryKind::kDirectory) CIUIC_RETURN_IF_ERROR(ReleaseNode(txn, e.id));
    else ++uses[e.id];
  }
  for (const NodeChild& c : node.children) CIUIC_RETURN_IF_ERROR(ReleaseNode(txn, c.id));
  return DropVersionRefs(txn, uses);
}

// ---- Reading one stored directory (its root node id; zero: empty)

Result<std::optional<NodeEntry>> DirGet(Txn& txn, const Hash128& dir, std::string_view name) {
  if (dir.IsZero()) return std::optional<NodeEntry>();
  auto node = ReadNode(txn, dir);
  while (node.ok() && node->level > 0) {
    auto it = std::lower_bound(node->children.begin(), node->children.end(), name,
                               [](const NodeChild& c, std::string_view n) { return c.last < n; });
    if (it == node->children.end()) return std::optional<NodeEntry>();
    node = ReadNode(txn, it->id);
  }
  if (!node.ok()) return node.status();
  auto it = std::lower_bound(node->entries.begin(), node->entries.end(), name,
                             [](const NodeEntry& e, std::string_view n) { return e.name < n; });
  if (it == node->entries.end() || it->name != name) return std::optional<NodeEntry>();
  return std::optional<NodeEntry>(std::move(*it));
}

// The directory's entries in name order.
Status DirEntries(Txn& txn, const Hash128& dir, std::vector<NodeEntry>* out) {
  if (dir.IsZero()) return Status::Ok();
  auto node = ReadNode(txn, dir);
  if (!node.ok()) return node.status();
  for (NodeEntry& e : node->entries) out->push_back(std::move(e));
  for (const NodeChild& c : node->children) CIUIC_RETURN_IF_ERROR(DirEntries(txn, c.id, out));
  return Status::Ok();
}

// The directory's leaves in name order, each with its last name.
Status DirLeaves(Txn& txn, const Hash128& dir, std::vector<NodeChild>* out) {
  auto node = ReadNode(txn, dir);
  if (!node.ok()) return node.status();
  if (node->level == 0) {
    out->push_back(NodeChild{node->entries.back().name, dir});
    return Status::Ok();
  }
  for (NodeChild& c : node->children) {
    if (node->level == 1) out->push_back(std::move(c));
    else CIUIC_RETURN_IF_ERROR(DirLeaves(txn, c.id, out));
  }
  return Status::Ok();
}

TreeEntry ToTreeEntry(const NodeEntry& e, std::string path) {
  return TreeEntry{std::move(path), e.kind, e.mode, e.size, e.mtime_ns,
                   e.kind == EntryKind::kDirectory ? VersionId{} : e.id};
}

std::string Join(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

// ("a/b", "c") from "a/b/c"; ("", "c") from "c".
std::pair<std::string, std::string> SplitPath(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

std::vector<std::string> Components(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size() && !path.empty()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    out.emplace_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

Result<std::optional<NodeEntry>> Resolve(Txn& txn, const Hash128& root, std::string_view path) {
  std::vector<std::string> parts = Components(path);
  if (parts.empty()) return std::optional<NodeEntry>();
  Hash128 dir = root;
  for (size_t i = 0;; ++i) {
    auto e = DirGet(txn, dir, parts[i]);
    if (!e.ok() || !*e || i + 1 == parts.size()) return e;
    if ((*e)->kind != EntryKind::kDirectory) return std::optional<NodeEntry>();
    dir = (*e)->id;
  }
}

Status LoadInto(Txn& txn, const Hash128& dir, const std::string& prefix, Tree* out) {
  std::vector<NodeEntry> entries;
  CIUIC_RETURN_IF_ERROR(DirEntries(txn, dir, &entries));
  for (const NodeEntry& e : entries) {
    std::string path = Join(prefix, e.name);
    if (e.kind == EntryKind::kDirectory) CIUIC_RETURN_IF_ERROR(LoadInto(txn, e.id, path, out));
    out->push_back(ToTreeEntry(e, std::move(path)));
  }
  return Status::Ok();
}

bool IsBelow(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path[dir.size()] == '/' && path.compare(0, dir.size(), dir) == 0;
}

// ---- Editing: the directories a commit touches, as edits over their
// stored nodes, written once at the end.

struct OpenDir {
  Hash128 base;  // the directory's root node before the commit; zero: empty or new
  std::map<std::string, std::optional<NodeEntry>> edits;  // name -> new entry; nullopt: removed
  // Directories below with edits of their own; edits[name] holds the
  // entry, whose id Finish fills in.
  std::map<std::string, std::unique_ptr<OpenDir>> subdirs;
};

class Editor {
 public:
  Editor(Txn& txn, const Hash128& root) : txn_(txn) { top_.base = root; }

  Status Apply(const TreeOp& op, std::vector<Change>* changes) {
    switch (op.op) {
      case TreeOp::Op::kPut: return Put(op, changes);
      case TreeOp::Op::kRemove: return Remove(op, changes);
      case TreeOp::Op::kRename: return Rename(op, changes);
    }
    return Status::InvalidArgument("commit: unknown tree operation");
  }

  // Stores the new nodes; the new root (not yet referenced).
  Result<Hash128> Finish() { return Finalize(&top_); }
  // The references the new nodes hold.
  const RefDeltas& refs() const { return refs_; }

 private:
  Result<std::optional<NodeEntry>> Get(OpenDir* d, const std::string& name) {
    auto it = d->edits.find(name);
    if (it != d->edits.end()) return it->second;
    return DirGet(txn_, d->base, name);
  }

  // The directory at `path`, open for edits. A missing one is created with
  // mode 0755 and `mtime` when `create`, NotFound otherwise; a component
  // that is not a directory is InvalidArgument.
  Result<OpenDir*> Open(const std::string& path, bool create, int64_t mtime) {
    OpenDir* d = &top_;
    std::string prefix;
    for (const std::string& name : Components(path)) {
      prefix = Join(prefix, name);
      auto sub = d->subdirs.find(name);
      if (sub != d->subdirs.end()) {
        d = sub->second.get();
        continue;
      }
      auto e = Get(d, name);
      if (!e.ok()) return e.status();
      auto child = std::make_unique<OpenDir>();
      if (!*e) {
        if (!create) return Status::NotFound("commit: no directory '" + prefix + "'");
        d->edits[name] = NodeEntry{name, EntryKind::kDirectory, 0755, 0, mtime, {}};
      } else if ((*e)->kind != EntryKind::kDirectory) {
        return Status::InvalidArgument("commit: '" + prefix + "' is not a directory");
      } else {
        child->base = (*e)->id;
        d->edits[name] = **e;
      }
      d = (d->subdirs[name] = std::move(child)).get();
    }
    return d;
  }

  // The entry at `path` as the edits so far leave it, opening nothing.
  Result<std::optional<NodeEntry>> Peek(const std::string& path) {
    std::vector<std::string> parts = Components(path);
    OpenDir* d = &top_;
    std::optional<Hash128> stored;  // set once the walk leaves the open directories
    for (size_t i = 0;; ++i) {
      if (!stored && i + 1 < parts.size()) {
        auto sub = d->subdirs.find(parts[i]);
        if (sub != d->subdirs.end()) {
          d = sub->second.get();
          continue;
        }
      }
      auto e = stored ? DirGet(txn_, *stored, parts[i]) : Get(d, parts[i]);
      if (!e.ok() || !*e || i + 1 == parts.size()) return e;
      if ((*e)->kind != EntryKind::kDirectory) return std::optional<NodeEntry>();
      stored = (*e)->id;
    }
  }

  // Entries of a directory as the edits leave it: `d` open (may be null)
  // over stored root `base`, in name order.
  Result<std::vector<NodeEntry>> Merged(OpenDir* d, const Hash128& base) {
    std::vector<NodeEntry> stored;
    CIUIC_RETURN_IF_ERROR(DirEntries(txn_, base, &stored));
    if (!d) return stored;
    std::map<std::string, NodeEntry> merged;
    for (NodeEntry& e : stored) merged.emplace(e.name, std::move(e));
    for (auto& [name, e] : d->edits) {
      if (e) merged[name] = *e;
      else merged.erase(name);
    }
    std::vector<NodeEntry> out;
    for (auto& [name, e] : merged) out.push_back(std::move(e));
    return out;
  }

  // Everything below a directory, depth first (a directory before what it
  // holds, names in byte order), as the edits leave it.
  Status Walk(OpenDir* d, const Hash128& base, const std::string& prefix,
              const std::function<void(const std::string&, const NodeEntry&)>& fn) {
    auto entries = Merged(d, base);
    if (!entries.ok()) return entries.status();
    for (const NodeEntry& e : *entries) {
      const std::string path = prefix + "/" + e.name;
      fn(path, e);
      if (e.kind != EntryKind::kDirectory) continue;
      OpenDir* sub = nullptr;
      if (d) {
        auto it = d->subdirs.find(e.name);
        if (it != d->subdirs.end()) sub = it->second.get();
      }
      CIUIC_RETURN_IF_ERROR(Walk(sub, sub ? sub->base : e.id, path, fn));
    }
    return Status::Ok();
  }

  Result<bool> IsEmptyDir(OpenDir* parent, const std::string& name, const NodeEntry& e) {
    auto sub = parent->subdirs.find(name);
    if (sub == parent->subdirs.end()) return e.id.IsZero();
    auto entries = Merged(sub->second.get(), sub->second->base);
    if (!entries.ok()) return entries.status();
    return entries->empty();
  }

  Status Put(const TreeOp& op, std::vector<Change>* changes) {
    auto [dir, name] = SplitPath(op.path);
    auto d = Open(dir, true, op.entry.mtime_ns);
    if (!d.ok()) return d.status();
    auto cur = Get(*d, name);
    if (!cur.ok()) return cur.status();
    NodeEntry e{name, op.entry.kind, op.entry.mode, op.entry.size, op.entry.mtime_ns, op.entry.version};
    const bool is_dir = e.kind == EntryKind::kDirectory;
    if (is_dir) e.id = *cur && (*cur)->kind == EntryKind::kDirectory ? (*cur)->id : Hash128{};  // keeps what it holds
    if (!is_dir && *cur && (*cur)->kind == EntryKind::kDirectory) {
      auto empty = IsEmptyDir(*d, name, **cur);
      if (!empty.ok()) return empty.status();
      if (!*empty) return Status::InvalidArgument("commit: '" + op.path + "' is a non-empty directory");
      (*d)->subdirs.erase(name);
    }
    changes->push_back(
        Change{is_dir ? ChangeKind::kPut : op.change, op.path, is_dir ? VersionId{} : e.id, is_dir ? 0 : e.size});
    (*d)->edits[name] = std::move(e);
    return Status::Ok();
  }

  // The directory holding `path` and the entry there, for an edit of an
  // existing entry: `missing` when either is not there.
  Result<std::pair<OpenDir*, NodeEntry>> OpenEntry(const std::string& path, const Status& missing) {
    auto [dir, name] = SplitPath(path);
    auto d = Open(dir, false, 0);
    if (!d.ok()) return d.status().IsNotFound() || d.status().code() == Status::Code::kInvalidArgument ? missing : d.status();
    auto cur = Get(*d, name);
    if (!cur.ok()) return cur.status();
    if (!*cur) return missing;
    return std::make_pair(*d, **cur);
  }

  Status Remove(const TreeOp& op, std::vector<Change>* changes) {
    auto found = OpenEntry(op.path, Status::NotFound("commit: no entry '" + op.path + "' to remove"));
    if (!found.ok()) return found.status();
    OpenDir* d = found->first;
    const std::string name = SplitPath(op.path).second;
    d->edits[name] = std::nullopt;
    d->subdirs.erase(name);
    changes->push_back(Change{ChangeKind::kRemove, op.path, {}, 0});
    return Status::Ok();
  }

  Status Rename(const TreeOp& op, std::vector<Change>* changes) {
    auto found = OpenEntry(op.from, Status::NotFound("commit: no entry '" + op.from + "' to rename"));
    if (!found.ok()) return found.status();
    OpenDir* fd = found->first;
    const std::string from_name = SplitPath(op.from).second;
    auto target = Peek(op.path);
    if (!target.ok()) return target.status();
    if (*target) return Status::InvalidArgument("commit: rename target '" + op.path + "' exists");
    if (IsBelow(op.path, op.from)) return Status::InvalidArgument("commit: cannot move '" + op.from + "' into itself");

    auto [to_dir, to_name] = SplitPath(op.path);
    NodeEntry moved = found->second;
    moved.name = to_name;
    moved.mode = op.entry.mode;
    moved.mtime_ns = op.entry.mtime_ns;
    std::unique_ptr<OpenDir> moved_state;
    if (auto it = fd->subdirs.find(from_name); it != fd->subdirs.end()) {
      moved_state = std::move(it->second);
      fd->subdirs.erase(it);
    }
    fd->edits[from_name] = std::nullopt;
    changes->push_back(Change{ChangeKind::kRemove, op.from, {}, 0});

    auto td = Open(to_dir, true, op.entry.mtime_ns);
    if (!td.ok()) return td.status();
    auto moved_change = [&](const std::string& path, const NodeEntry& e) {
      if (e.kind == EntryKind::kDirectory) changes->push_back(Change{ChangeKind::kPut, path, {}, 0});
      else changes->push_back(Change{ChangeKind::kLink, path, e.id, e.size});
    };
    moved_change(op.path, moved);
    if (moved.kind == EntryKind::kDirectory)
      CIUIC_RETURN_IF_ERROR(Walk(moved_state.get(), moved_state ? moved_state->base : moved.id, op.path, moved_change));
    (*td)->edits[to_name] = std::move(moved);
    if (moved_state) (*td)->subdirs[to_name] = std::move(moved_state);
    return Status::Ok();
  }

  // Leaf building: entries are appended in name order and a leaf is cut
  // after every boundary name.
  struct LeafCutter {
    Txn& txn;
    RefDeltas* refs;
    std::vector<NodeChild> out;
    Node leaf;
    Status Push(NodeEntry e) {
      leaf.entries.push_back(std::move(e));
      return IsNodeBoundary(leaf.entries.back().name, 0) ? Cut() : Status::Ok();
    }
    Status Cut() {
      if (leaf.entries.empty()) return Status::Ok();
      auto id = StoreNode(txn, leaf, refs);
      if (!id.ok()) return id.status();
      out.push_back(NodeChild{leaf.entries.back().name, *id});
      leaf.entries.clear();
      return Status::Ok();
    }
  };

  // Writes the directory's new nodes; its new root (zero when empty).
  Result<Hash128> Finalize(OpenDir* d) {
    for (auto& [name, sub] : d->subdirs) {
      auto root = Finalize(sub.get());
      if (!root.ok()) return root.status();
      d->edits[name]->id = *root;
    }
    if (d->edits.empty()) return d->base;

    std::vector<NodeChild> leaves;
    if (!d->base.IsZero()) CIUIC_RETURN_IF_ERROR(DirLeaves(txn_, d->base, &leaves));
    LeafCutter cut{txn_, &refs_, {}, {}};
    auto edit = d->edits.begin();
    for (size_t i = 0; i < leaves.size(); ++i) {
      // The edits that fall into leaf i; the last leaf takes the rest.
      auto edit_end = i + 1 == leaves.size() ? d->edits.end() : d->edits.upper_bound(leaves[i].last);
      if (edit == edit_end && cut.leaf.entries.empty()) {
        cut.out.push_back(leaves[i]);  // untouched, and the cut before it is where it was
        continue;
      }
      auto leaf = ReadNode(txn_, leaves[i].id);
      if (!leaf.ok()) return leaf.status();
      if (leaf->level != 0) return CorruptRow(Db::kNodes, HashKey(leaves[i].id));
      auto e = leaf->entries.begin();
      while (e != leaf->entries.end() || edit != edit_end) {
        if (edit == edit_end || (e != leaf->entries.end() && e->name < edit->first)) {
          CIUIC_RETURN_IF_ERROR(cut.Push(std::move(*e++)));
          continue;
        }
        if (e != leaf->entries.end() && e->name == edit->first) ++e;  // replaced or removed
        if (edit->second) CIUIC_RETURN_IF_ERROR(cut.Push(*edit->second));
        ++edit;
      }
    }
    for (; edit != d->edits.end(); ++edit)  // an empty directory before
      if (edit->second) CIUIC_RETURN_IF_ERROR(cut.Push(*edit->second));
    CIUIC_RETURN_IF_ERROR(cut.Cut());  // the last leaf needs no boundary
    return StoreInner(std::move(cut.out));
  }

  // The inner levels over `items` (a directory's leaves), rebuilt whole:
  // an inner node is cut after a boundary name once it has two children,
  // so every level is at most half the one below.
  Result<Hash128> StoreInner(std::vector<NodeChild> items) {
    if (items.empty()) return Hash128{};
    for (int level = 1; items.size() > 1; ++level) {
      std::vector<NodeChild> up;
      Node node;
      node.level = static_cast<uint8_t>(level);
      for (size_t i = 0; i < items.size(); ++i) {
        node.children.push_back(std::move(items[i]));
        const bool last = i + 1 == items.size();
        if (!last && !(node.children.size() >= 2 && IsNodeBoundary(node.children.back().last, level))) continue;
        auto id = StoreNode(txn_, node, &refs_);
        if (!id.ok()) return id.status();
        up.push_back(NodeChild{node.children.back().last, *id});
        node.children.clear();
      }
      items = std::move(up);
    }
    return items[0].id;
  }

  Txn& txn_;
  OpenDir top_;
  RefDeltas refs_;
};

}  // namespace

bool IsNodeBoundary(std::string_view name, int level) {
  return (Hash64(name, kCutSeed + uint64_t(level)) & kCutMask) == 0;
}

Result<std::optional<TreeEntry>> NodeTreeStore::Lookup(Txn& txn, const Hash128& root, std::string_view path) {
  auto e = Resolve(txn, root, path);
  if (!e.ok()) return e.status();
  if (!*e) return std::optional<TreeEntry>();
  return std::optional<TreeEntry>(ToTreeEntry(**e, std::string(path)));
}

Result<std::vector<TreeEntry>> NodeTreeStore::List(Txn& txn, const Hash128& root, std::string_view dir) {
  std::vector<TreeEntry> out;
  Hash128 id = root;
  if (!dir.empty()) {
    auto e = Resolve(txn, root, dir);
    if (!e.ok()) return e.status();
    if (!*e || (*e)->kind != EntryKind::kDirectory) return out;
    id = (*e)->id;
  }
  std::vector<NodeEntry> entries;
  CIUIC_RETURN_IF_ERROR(DirEntries(txn, id, &entries));
  out.reserve(entries.size());
  for (const NodeEntry& e : entries) out.push_back(ToTreeEntry(e, Join(std::string(dir), e.name)));
  return out;
}

Result<Tree> NodeTreeStore::Load(Txn& txn, const Hash128& root) {
  Tree tree;
  if (root.IsZero()) return tree;
  auto top = ReadNode(txn, root);
  if (!top.ok()) return top.status().IsNotFound() ? Status::NotFound("no tree " + root.Hex()) : top.status();
  CIUIC_RETURN_IF_ERROR(LoadInto(txn, root, "", &tree));
  std::sort(tree.begin(), tree.end(), [](const TreeEntry& a, const TreeEntry& b) { return a.path < b.path; });
  return tree;
}

Result<TreeUpdate> NodeTreeStore::Apply(Txn& txn, const Hash128& root, const std::vector<TreeOp>& ops) {
  Editor editor(txn, root);
  TreeUpdate update;
  for (const TreeOp& op : ops) CIUIC_RETURN_IF_ERROR(editor.Apply(op, &update.changes));
  auto new_root = editor.Finish();
  if (!new_root.ok()) return new_root.status();
  update.root = *new_root;
  RefDeltas refs = editor.refs();
  for (auto& [id, n] : refs.versions) update.versions_named.insert(id);
  if (!update.root.IsZero()) ++refs.nodes[update.root];  // the caller's snapshot
  CIUIC_RETURN_IF_ERROR(LogRefs(txn, refs));
  return update;
}

Status NodeTreeStore::AddRef(Txn& txn, const Hash128& root) {
  RefDeltas refs;
  if (!root.IsZero()) refs.nodes[root] = 1;
  return LogRefs(txn, refs);
}

Status NodeTreeStore::Settle(Txn& txn) { return SettleLog(txn); }

Status NodeTreeStore::Release(Txn& txn, const Hash128& root) {
  if (root.IsZero()) return Status::Ok();
  auto v = txn.Get(Db::kNodes, HashKey(root));
  if (!v.ok()) return v.status();
  if (!*v) return Status::NotFound("no tree " + root.Hex());
  CIUIC_RETURN_IF_ERROR(SettleLog(txn));  // counts are exact from here on
  return ReleaseNode(txn, root);
}

Result<TreeAudit> NodeTreeStore::Audit(Txn& txn, const std::map<Hash128, uint32_t>& root_refs) {
  TreeAudit audit;
  std::map<Hash128, uint32_t> refs = root_refs;  // references to each node
  std::map<Hash128, uint32_t> stored;            // refcount of each stored node
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kNodes, "", [&](std::string_view k, std::string_view v) {
    Hash128 id;
    uint32_t rc;
    Node node;
    ++audit.rows;
    if (!DecodeHashKey(k, &id) || !DecodeNodeRow(v, &rc, &node)) {
      audit.problems.push_back(CorruptRow(Db::kNodes, k).message());
      return true;
    }
    if (Hash128::Of(v.substr(4)) != id) audit.problems.push_back("tree node " + id.ShortHex() + ": id does not match its content");
    stored[id] = rc;
    for (const NodeEntry& e : node.entries) {
      if (e.kind == EntryKind::kDirectory) {
        if (!e.id.IsZero()) ++refs[e.id];
        continue;
      }
      ++audit.version_uses[e.id];
      audit.version_names.try_emplace(e.id, e.name);
    }
    for (const NodeChild& c : node.children) ++refs[c.id];
    return true;
  }));
  // Counts the log has not applied yet belong to the rows.
  auto pending = ReadLog(txn, nullptr);
  if (!pending.ok()) return pending.status();
  for (auto& [id, n] : pending->nodes) {
    auto it = stored.find(id);
    if (it == stored.end()) audit.problems.push_back("reference log names missing tree node " + id.ShortHex());
    else it->second += static_cast<uint32_t>(n);
  }
  for (auto& [id, n] : pending->versions) {
    audit.version_pending[id] = n;
    auto m = txn.Get(Db::kManifests, HashKey(id));
    if (!m.ok()) return m.status();
    if (!*m) audit.problems.push_back("reference log names missing version " + id.ShortHex());
  }
  for (auto& [id, n] : refs)
    if (!stored.count(id)) audit.problems.push_back("tree node " + id.ShortHex() + " is referenced but missing");
  for (auto& [id, rc] : stored) {
    auto r = refs.find(id);
    uint32_t n = r == refs.end() ? 0 : r->second;
    if (rc != n)
      audit.problems.push_back("tree node " + id.ShortHex() + ": refcount " + std::to_string(rc) + ", referenced " +
                               std::to_string(n) + " times");
  }
  return audit;
}

}  // namespace ciuicfs
