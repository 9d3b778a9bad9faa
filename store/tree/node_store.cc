#include "store/tree/node_store.h"

#include <algorithm>

#include "store/base/chunk_id.h"
#include "store/base/crash_point.h"
#include "store/index/keys.h"
#include "store/index/queries.h"

namespace ciuicfs {
namespace {

constexpr uint64_t kCutSeed = 0x6369756963646972;  // "ciuicdir"
constexpr uint64_t kCutMask = 15;                  // one name in 16 ends a node

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

}  // namespace

bool IsNodeBoundary(std::string_view name, int level) {
  return (Hash64(name, kCutSeed + uint64_t(level)) & kCutMask) == 0;
}

Result<Node> ReadNode(Txn& txn, const Hash128& id, uint32_t* refcount) {
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
    if (!HasVersion(e.kind)) continue;
    auto m = txn.Get(Db::kManifests, HashKey(e.id));  // a read: the row is not touched
    if (!m.ok()) return m.status();
    if (!*m) return Status::Corruption("index: a tree names missing version " + e.id.Hex());
    ++refs->versions[e.id];
  }
  for (const NodeChild& c : node.children) ++refs->nodes[c.id];
  return id;
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
    else if (HasVersion(e.kind)) ++uses[e.id];
  }
  for (const NodeChild& c : node.children) CIUIC_RETURN_IF_ERROR(ReleaseNode(txn, c.id));
  return DropVersionRefs(txn, uses);
}

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

bool IsBelow(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path[dir.size()] == '/' && path.compare(0, dir.size(), dir) == 0;
}


}  // namespace ciuicfs
