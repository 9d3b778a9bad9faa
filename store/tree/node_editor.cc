#include "store/tree/node_editor.h"

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "store/index/keys.h"
#include "store/index/queries.h"
#include "store/tree/node_store.h"

namespace ciuicfs {
namespace {

struct OpenDir {
  Hash128 base;  // the directory's root node before the commit; zero: empty or new
  std::map<std::string, std::optional<NodeEntry>> edits;  // name -> new entry; nullopt: removed
  // Directories below with edits of their own; edits[name] holds the
  // entry, whose id Finish fills in.
  std::map<std::string, std::unique_ptr<OpenDir>> subdirs;
};

}  // namespace

class NodeEditor::Impl {
 public:
  Impl(Txn& txn, const Hash128& root) : txn_(txn) { top_.base = root; }

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
        d->edits[name] = NodeEntry{name, EntryKind::kDirectory, 0755, 0, mtime, {}, {}};
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
    NodeEntry e{name, op.entry.kind, op.entry.mode, op.entry.size, op.entry.mtime_ns, op.entry.version, op.entry.attrs};
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


NodeEditor::NodeEditor(Txn& txn, const Hash128& root) : impl_(std::make_unique<Impl>(txn, root)) {}
NodeEditor::~NodeEditor() = default;
Status NodeEditor::Apply(const TreeOp& op, std::vector<Change>* changes) { return impl_->Apply(op, changes); }
Result<Hash128> NodeEditor::Finish() { return impl_->Finish(); }
const RefDeltas& NodeEditor::refs() const { return impl_->refs(); }

}  // namespace ciuicfs
