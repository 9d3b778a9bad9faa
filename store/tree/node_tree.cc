#include "store/tree/node_tree.h"

#include <algorithm>

#include "store/index/keys.h"
#include "store/index/queries.h"
#include "store/tree/node_editor.h"
#include "store/tree/node_store.h"

namespace ciuicfs {
namespace {

TreeEntry ToTreeEntry(const NodeEntry& e, std::string path) {
  return TreeEntry{std::move(path), e.kind, e.mode, e.size, e.mtime_ns, HasVersion(e.kind) ? e.id : VersionId{},
                   e.attrs};
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

}  // namespace

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
  NodeEditor editor(txn, root);
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
      if (!HasVersion(e.kind)) continue;
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
