#include "store/upgrade.h"

#include <map>

#include "store/base/coding.h"
#include "store/index/keys.h"
#include "store/index/queries.h"
#include "store/index/rows.h"

namespace ciuicfs {
namespace {

// The operations that build `tree` from nothing: parents sort first.
std::vector<TreeOp> BuildOps(const Tree& tree) {
  std::vector<TreeOp> ops;
  ops.reserve(tree.size());
  for (const TreeEntry& e : tree) {
    TreeOp op;
    op.op = TreeOp::Op::kPut;
    op.path = e.path;
    op.entry = e;
    ops.push_back(std::move(op));
  }
  return ops;
}

}  // namespace

Status ConvertFormat1(Txn& txn, TreeStore* trees, const std::function<void(uint64_t, uint64_t)>& progress) {
  std::vector<Snapshot> snaps;
  Status bad;
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kSnapshots, "", [&](std::string_view k, std::string_view v) {
    Snapshot s;
    if (!DecodeSnapshot(v, &s)) bad = CorruptRow(Db::kSnapshots, k);
    else snaps.push_back(std::move(s));
    return bad.ok();
  }));
  CIUIC_RETURN_IF_ERROR(bad);
  std::map<Hash128, Hash128> converted;  // format 1 tree id -> root node
  uint64_t done = 0;
  for (Snapshot& s : snaps) {
    if (progress) progress(done++, snaps.size());
    if (s.tree.IsZero()) continue;
    auto known = converted.find(s.tree);
    if (known != converted.end()) {
      CIUIC_RETURN_IF_ERROR(trees->AddRef(txn, known->second));
      s.tree = known->second;
    } else {
      const std::string key = HashKey(s.tree);
      auto v = txn.Get(Db::kTrees, key);
      if (!v.ok()) return v.status();
      if (!*v) return Status::Corruption("upgrade: snapshot " + std::to_string(s.seq) + " names missing tree " + s.tree.Hex());
      uint32_t refcount;
      Tree tree;
      if (!DecodeTreeRow(**v, &refcount, &tree)) return CorruptRow(Db::kTrees, key);
      auto update = trees->Apply(txn, Hash128{}, BuildOps(tree));  // takes the snapshot's reference
      if (!update.ok()) return update.status();
      converted[s.tree] = update->root;
      s.tree = update->root;
    }
    CIUIC_RETURN_IF_ERROR(txn.Put(Db::kSnapshots, SeqKey(s.seq), EncodeSnapshot(s)));
  }
  if (progress) progress(snaps.size(), snaps.size());
  // The old rows go last, so no version's count passes zero on the way.
  CIUIC_RETURN_IF_ERROR(trees->Settle(txn));
  std::vector<std::pair<std::string, Tree>> old;
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kTrees, "", [&](std::string_view k, std::string_view v) {
    uint32_t refcount;
    Tree tree;
    if (!DecodeTreeRow(v, &refcount, &tree)) bad = CorruptRow(Db::kTrees, k);
    else old.emplace_back(std::string(k), std::move(tree));
    return bad.ok();
  }));
  CIUIC_RETURN_IF_ERROR(bad);
  for (auto& [key, tree] : old) {
    VersionUses uses;
    for (const TreeEntry& e : tree)
      if (HasVersion(e.kind)) ++uses[e.version];
    CIUIC_RETURN_IF_ERROR(DropVersionRefs(txn, uses));
    CIUIC_RETURN_IF_ERROR(txn.Del(Db::kTrees, key));
  }
  // Format 1's per-path history rows: format 2 reads the snapshots instead.
  std::vector<std::string> path_keys;
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kPaths, "", [&](std::string_view k, std::string_view) {
    path_keys.emplace_back(k);
    return true;
  }));
  for (const std::string& k : path_keys) CIUIC_RETURN_IF_ERROR(txn.Del(Db::kPaths, k));
  std::string format, through;
  PutLE<uint32_t>(&format, 2);
  PutLE<uint64_t>(&through, snaps.empty() ? 0 : snaps.back().seq);
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kMeta, "format", format));
  return txn.Put(Db::kMeta, "converted_through", through);
}

Result<uint64_t> ConvertedThrough(Txn& txn) {
  auto v = txn.Get(Db::kMeta, "converted_through");
  if (!v.ok()) return v.status();
  if (!*v) return uint64_t{0};
  if ((*v)->size() != 8) return CorruptRow(Db::kMeta, "converted_through");
  return LoadLE<uint64_t>((*v)->data());
}

}  // namespace ciuicfs
