#include "store/tree/flat_tree.h"

#include <algorithm>
#include <map>

#include "store/index/queries.h"

namespace ciuicfs {
namespace {

using TreeMap = std::map<std::string, TreeEntry>;

bool IsBelow(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path[dir.size()] == '/' && path.compare(0, dir.size(), dir) == 0;
}

// The entries strictly below `dir`, from `tree`.
std::vector<TreeMap::iterator> Descendants(TreeMap& tree, const std::string& dir) {
  std::vector<TreeMap::iterator> out;
  for (auto it = tree.lower_bound(dir + "/"); it != tree.end() && IsBelow(it->first, dir); ++it) out.push_back(it);
  return out;
}

// Depth-first order: '/' sorts before every other byte.
bool DepthFirstLess(const std::string& a, const std::string& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = a[i] == '/' ? 0 : static_cast<unsigned char>(a[i]);
    unsigned char y = b[i] == '/' ? 0 : static_cast<unsigned char>(b[i]);
    if (x != y) return x < y;
  }
  return a.size() < b.size();
}

// Creates the missing directories above `path`; one that is not a
// directory is InvalidArgument.
Status AddParents(TreeMap& tree, const std::string& path, int64_t mtime) {
  for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    std::string dir = path.substr(0, slash);
    auto it = tree.find(dir);
    if (it == tree.end()) tree[dir] = TreeEntry{dir, EntryKind::kDirectory, 0755, 0, mtime, {}};
    else if (it->second.kind != EntryKind::kDirectory)
      return Status::InvalidArgument("commit: '" + dir + "' is not a directory");
  }
  return Status::Ok();
}

Change MovedChange(const TreeEntry& e) {
  if (e.kind == EntryKind::kDirectory) return Change{ChangeKind::kPut, e.path, {}, 0};
  return Change{ChangeKind::kLink, e.path, e.version, e.size};
}

Status ApplyOne(TreeMap& tree, const TreeOp& op, std::vector<Change>* changes) {
  switch (op.op) {
    case TreeOp::Op::kRemove: {
      auto it = tree.find(op.path);
      if (it == tree.end()) return Status::NotFound("commit: no entry '" + op.path + "' to remove");
      for (auto d : Descendants(tree, op.path)) tree.erase(d);
      tree.erase(op.path);
      changes->push_back(Change{ChangeKind::kRemove, op.path, {}, 0});
      return Status::Ok();
    }
    case TreeOp::Op::kPut: {
      auto it = tree.find(op.path);
      if (it != tree.end() && it->second.kind == EntryKind::kDirectory && op.entry.kind != EntryKind::kDirectory &&
          !Descendants(tree, op.path).empty())
        return Status::InvalidArgument("commit: '" + op.path + "' is a non-empty directory");
      CIUIC_RETURN_IF_ERROR(AddParents(tree, op.path, op.entry.mtime_ns));
      TreeEntry e = op.entry;
      e.path = op.path;
      changes->push_back(Change{e.kind == EntryKind::kDirectory ? ChangeKind::kPut : op.change, op.path, e.version,
                                e.size});
      tree[op.path] = std::move(e);
      return Status::Ok();
    }
    case TreeOp::Op::kRename: {
      auto src = tree.find(op.from);
      if (src == tree.end()) return Status::NotFound("commit: no entry '" + op.from + "' to rename");
      if (tree.count(op.path)) return Status::InvalidArgument("commit: rename target '" + op.path + "' exists");
      if (IsBelow(op.path, op.from))
        return Status::InvalidArgument("commit: cannot move '" + op.from + "' into itself");
      std::vector<TreeEntry> moved;
      TreeEntry top = src->second;
      top.mode = op.entry.mode;
      top.mtime_ns = op.entry.mtime_ns;
      top.path = op.path;
      for (auto d : Descendants(tree, op.from)) {
        TreeEntry e = d->second;
        e.path = op.path + e.path.substr(op.from.size());
        moved.push_back(std::move(e));
        tree.erase(d);
      }
      tree.erase(src);
      changes->push_back(Change{ChangeKind::kRemove, op.from, {}, 0});
      CIUIC_RETURN_IF_ERROR(AddParents(tree, op.path, op.entry.mtime_ns));
      changes->push_back(MovedChange(top));
      tree[top.path] = std::move(top);
      std::sort(moved.begin(), moved.end(),
                [](const TreeEntry& a, const TreeEntry& b) { return DepthFirstLess(a.path, b.path); });
      for (TreeEntry& e : moved) {
        changes->push_back(MovedChange(e));
        std::string path = e.path;
        tree[path] = std::move(e);
      }
      return Status::Ok();
    }
  }
  return Status::InvalidArgument("commit: unknown tree operation");
}

VersionUses UsesOf(const Tree& tree) {
  VersionUses uses;
  for (const TreeEntry& e : tree)
    if (e.kind != EntryKind::kDirectory) ++uses[e.version];
  return uses;
}

}  // namespace

Result<Tree> FlatTreeStore::Load(Txn& txn, const Hash128& root) {
  Tree tree;
  if (root.IsZero()) return tree;
  const std::string key = HashKey(root);
  auto v = txn.Get(Db::kTrees, key);
  if (!v.ok()) return v.status();
  if (!*v) return Status::NotFound("no tree " + root.Hex());
  uint32_t refcount;
  if (!DecodeTreeRow(**v, &refcount, &tree)) return CorruptRow(Db::kTrees, key);
  return tree;
}

Result<std::optional<TreeEntry>> FlatTreeStore::Lookup(Txn& txn, const Hash128& root, std::string_view path) {
  auto tree = Load(txn, root);
  if (!tree.ok()) return tree.status();
  auto it = std::lower_bound(tree->begin(), tree->end(), path,
                             [](const TreeEntry& e, std::string_view p) { return e.path < p; });
  if (it == tree->end() || it->path != path) return std::optional<TreeEntry>();
  return std::optional<TreeEntry>(std::move(*it));
}

Result<std::vector<TreeEntry>> FlatTreeStore::List(Txn& txn, const Hash128& root, std::string_view dir) {
  auto tree = Load(txn, root);
  if (!tree.ok()) return tree.status();
  std::vector<TreeEntry> out;
  const std::string prefix = dir.empty() ? std::string() : std::string(dir) + "/";
  for (TreeEntry& e : *tree)
    if (e.path.compare(0, prefix.size(), prefix) == 0 && e.path.find('/', prefix.size()) == std::string::npos &&
        e.path.size() > prefix.size())
      out.push_back(std::move(e));
  return out;
}

Result<TreeUpdate> FlatTreeStore::Apply(Txn& txn, const Hash128& root, const std::vector<TreeOp>& ops) {
  auto old_tree = Load(txn, root);
  if (!old_tree.ok()) return old_tree.status();
  TreeMap tree;
  for (TreeEntry& e : *old_tree) {
    std::string path = e.path;
    tree.emplace(std::move(path), std::move(e));
  }
  TreeUpdate update;
  for (const TreeOp& op : ops) CIUIC_RETURN_IF_ERROR(ApplyOne(tree, op, &update.changes));
  Tree new_tree;
  new_tree.reserve(tree.size());
  for (auto& [path, entry] : tree) new_tree.push_back(std::move(entry));
  if (new_tree.empty()) return update;  // the empty tree: root zero, nothing stored
  const std::string encoded = EncodeTree(new_tree);
  update.root = Hash128::Of(encoded);
  const std::string key = HashKey(update.root);
  auto v = txn.Get(Db::kTrees, key);
  if (!v.ok()) return v.status();
  uint32_t refcount = 0;
  if (*v && !RowRefcount(**v, &refcount)) return CorruptRow(Db::kTrees, key);
  if (*v) {
    std::string row(**v);
    SetRowRefcount(&row, refcount + 1);
    CIUIC_RETURN_IF_ERROR(txn.Put(Db::kTrees, key, row));
    return update;
  }
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kTrees, key, EncodeTreeRow(1, encoded)));
  CIUIC_RETURN_IF_ERROR(AddVersionRefs(txn, UsesOf(new_tree)));  // a new tree: count its versions
  return update;
}

Status FlatTreeStore::Release(Txn& txn, const Hash128& root) {
  if (root.IsZero()) return Status::Ok();
  const std::string key = HashKey(root);
  auto v = txn.Get(Db::kTrees, key);
  if (!v.ok()) return v.status();
  if (!*v) return Status::NotFound("no tree " + root.Hex());
  uint32_t refcount;
  Tree tree;
  if (!DecodeTreeRow(**v, &refcount, &tree)) return CorruptRow(Db::kTrees, key);
  if (refcount > 1) {
    std::string row(**v);
    SetRowRefcount(&row, refcount - 1);
    return txn.Put(Db::kTrees, key, row);
  }
  CIUIC_RETURN_IF_ERROR(txn.Del(Db::kTrees, key));
  return DropVersionRefs(txn, UsesOf(tree));
}

}  // namespace ciuicfs
