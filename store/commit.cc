// Commit: one snapshot in one LMDB write transaction (FORMAT.md "Writes and
// crash consistency").
#include <chrono>
#include <map>

#include "store/coding.h"
#include "store/crash_point.h"
#include "store/index_access.h"
#include "store/lmdb_env.h"
#include "store/pack.h"
#include "store/store.h"

namespace ciuicfs {
namespace {

Status ValidatePath(const std::string& path) {
  if (path.empty() || path.size() > 4096 || path.front() == '/' || path.back() == '/')
    return Status::InvalidArgument("bad path '" + path + "'");
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    std::string_view part(path.data() + start, slash - start);
    if (part.empty() || part == "." || part == ".." || part.size() > 255 ||
        part.find('\0') != std::string_view::npos)
      return Status::InvalidArgument("bad path '" + path + "'");
    start = slash + 1;
  }
  return Status::Ok();
}

struct PackDelta {
  uint64_t end = 0;
  uint64_t bytes = 0;
  uint64_t records = 0;
};

}  // namespace

TreeEdit TreeEdit::PutFile(std::string path, uint32_t mode, int64_t mtime_ns, const PendingVersion* v) {
  TreeEdit e;
  e.op = Op::kPutFile;
  e.path = std::move(path);
  e.mode = mode;
  e.mtime_ns = mtime_ns;
  e.pending = v;
  return e;
}

TreeEdit TreeEdit::PutExisting(std::string path, uint32_t mode, int64_t mtime_ns, const VersionId& v) {
  TreeEdit e = PutFile(std::move(path), mode, mtime_ns, nullptr);
  e.existing = v;
  return e;
}

TreeEdit TreeEdit::PutDirectory(std::string path, uint32_t mode, int64_t mtime_ns) {
  TreeEdit e;
  e.op = Op::kPutDirectory;
  e.path = std::move(path);
  e.mode = mode;
  e.mtime_ns = mtime_ns;
  return e;
}

TreeEdit TreeEdit::Remove(std::string path) {
  TreeEdit e;
  e.op = Op::kRemove;
  e.path = std::move(path);
  return e;
}

Result<Snapshot> Store::Commit(const CommitRequest& req) {
  for (const TreeEdit& e : req.edits) CIUIC_RETURN_IF_ERROR(ValidatePath(e.path));
  // Where the not-yet-indexed chunks of the fresh versions lie. Read before
  // the write transaction: the lock order is pins_mu_, then LMDB. The
  // versions' pins keep these entries alive until the commit is done.
  std::map<ChunkId, PackLocation> pending_locs;
  {
    std::lock_guard<std::mutex> lock(pins_mu_);
    for (const TreeEdit& e : req.edits) {
      if (!e.pending) continue;
      for (const ChunkId& id : e.pending->pins_) {
        auto it = pins_.find(id);
        if (it != pins_.end() && it->second.pending) pending_locs[id] = it->second.location;
      }
    }
  }
  std::map<uint32_t, uint64_t> synced;
  if (req.durable) CIUIC_RETURN_IF_ERROR(packs_->SyncAll(&synced));
  Snapshot snap;
  CIUIC_RETURN_IF_ERROR(
      env_->Write([&](Txn& txn) { return CommitInTxn(txn, req, pending_locs, synced, &snap); }));
  CrashPoint("commit.after_txn");
  {
    // Rows now exist for every chunk this commit stored.
    std::lock_guard<std::mutex> lock(pins_mu_);
    for (const TreeEdit& e : req.edits) {
      if (!e.pending) continue;
      for (const ChunkId& id : e.pending->pins_) {
        auto it = pins_.find(id);
        if (it != pins_.end()) it->second.pending = false;
      }
    }
  }
  if (req.durable) CIUIC_RETURN_IF_ERROR(env_->Sync());
  return snap;
}

Status Store::CommitInTxn(Txn& txn, const CommitRequest& req, const std::map<ChunkId, PackLocation>& pending_locs,
                          const std::map<uint32_t, uint64_t>& synced, Snapshot* out) {
  auto head = LoadHead(txn);
  if (!head.ok()) return head.status();
  Snapshot snap;
  Tree old_tree;
  if (*head) {
    auto t = LoadTree(txn, (*head)->tree, nullptr);
    if (!t.ok()) return t.status();
    old_tree = std::move(t.value());
    snap.seq = (*head)->seq + 1;
    snap.parent = (*head)->id;
    snap.step = (*head)->step;
  } else {
    snap.seq = 1;
  }
  if (req.step) snap.step = *req.step;
  snap.time_ns = req.time_ns != 0 ? req.time_ns
                                   : std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count();

  // 1. Chunk rows and manifests for the fresh versions.
  std::map<uint32_t, PackDelta> pack_deltas;
  std::map<VersionId, const PendingVersion*> fresh;
  for (const TreeEdit& e : req.edits)
    if (e.pending) fresh.emplace(e.pending->id(), e.pending);
  for (auto& [vid, pv] : fresh) {
    for (const ChunkId& id : pv->pins_) {
      auto row = txn.Get(Db::kChunks, id.Bytes());
      if (!row.ok()) return row.status();
      ChunkRow existing;
      if (*row && !DecodeChunkRow(**row, &existing)) return Status::Corruption("commit: bad row for chunk " + id.Hex());
      if (*row && existing.location.pack != kLostPack) continue;
      auto loc = pending_locs.find(id);
      if (loc == pending_locs.end())
        return Status::Corruption("commit: chunk " + id.Hex() + " is neither indexed nor pending");
      // A new row, or a lost one healed by fresh bytes (refcount kept).
      existing.location = loc->second;
      CIUIC_RETURN_IF_ERROR(txn.Put(Db::kChunks, id.Bytes(), EncodeChunkRow(existing)));
      PackDelta& d = pack_deltas[loc->second.pack];
      d.end = std::max(d.end, loc->second.end());
      d.bytes += kRecordHeaderSize + loc->second.stored_len;
      d.records += 1;
      snap.bytes_added += kRecordHeaderSize + loc->second.stored_len;
    }
    auto existing = txn.Get(Db::kManifests, vid.Bytes());
    if (!existing.ok()) return existing.status();
    if (*existing) continue;
    CIUIC_RETURN_IF_ERROR(txn.Put(Db::kManifests, vid.Bytes(), EncodeManifest(pv->manifest(), 0)));
    std::map<ChunkId, uint32_t> uses;
    for (const ChunkRef& c : pv->manifest().chunks) ++uses[c.id];
    for (auto& [id, n] : uses) {
      auto v = txn.Get(Db::kChunks, id.Bytes());
      if (!v.ok()) return v.status();
      ChunkRow row;
      if (!*v || !DecodeChunkRow(**v, &row)) return Status::Corruption("commit: bad row for chunk " + id.Hex());
      row.refcount += n;
      CIUIC_RETURN_IF_ERROR(txn.Put(Db::kChunks, id.Bytes(), EncodeChunkRow(row)));
    }
  }

  // 2. The new tree.
  std::map<std::string, TreeEntry> tree;
  for (TreeEntry& e : old_tree) tree.emplace(e.path, std::move(e));
  auto add_parents = [&](const std::string& path, int64_t mtime) {
    for (size_t slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1)) {
      std::string dir = path.substr(0, slash);
      if (!tree.count(dir)) tree[dir] = TreeEntry{dir, EntryKind::kDirectory, 0755, 0, mtime, {}};
    }
  };
  for (const TreeEdit& e : req.edits) {
    Change change;
    change.path = e.path;
    if (e.op == TreeEdit::Op::kRemove) {
      auto it = tree.find(e.path);
      if (it == tree.end()) return Status::NotFound("commit: no entry '" + e.path + "' to remove");
      it = tree.erase(it);
      const std::string prefix = e.path + "/";
      while (it != tree.end() && it->first.compare(0, prefix.size(), prefix) == 0) it = tree.erase(it);
      change.kind = ChangeKind::kRemove;
    } else {
      TreeEntry entry{e.path, EntryKind::kDirectory, e.mode, 0, e.mtime_ns, {}};
      if (e.op != TreeEdit::Op::kPutDirectory) {
        entry.kind = e.op == TreeEdit::Op::kPutSymlink ? EntryKind::kSymlink : EntryKind::kFile;
        if (e.pending) {
          entry.version = e.pending->id();
          entry.size = e.pending->size();
        } else {
          auto m = LoadManifest(txn, e.existing, nullptr);
          if (!m.ok()) return m.status();
          entry.version = e.existing;
          entry.size = m->size;
        }
      }
      add_parents(e.path, e.mtime_ns);
      auto it = tree.find(e.path);
      if (it != tree.end() && it->second.kind == EntryKind::kDirectory && entry.kind != EntryKind::kDirectory) {
        const std::string prefix = e.path + "/";
        auto next = std::next(it);
        if (next != tree.end() && next->first.compare(0, prefix.size(), prefix) == 0)
          return Status::InvalidArgument("commit: '" + e.path + "' is a non-empty directory");
      }
      change.kind = e.op != TreeEdit::Op::kPutDirectory && !e.pending ? ChangeKind::kLink : ChangeKind::kPut;
      change.version = entry.version;
      change.size = entry.size;
      tree[e.path] = std::move(entry);
    }
    snap.changes.push_back(std::move(change));
  }
  Tree new_tree;
  new_tree.reserve(tree.size());
  for (auto& [path, entry] : tree) new_tree.push_back(std::move(entry));
  std::string encoded = EncodeTree(new_tree);
  snap.tree = new_tree.empty() ? Hash128{} : Hash128::Of(encoded);
  if (!new_tree.empty()) {
    auto v = txn.Get(Db::kTrees, snap.tree.Bytes());
    if (!v.ok()) return v.status();
    uint32_t refcount = *v ? LoadLE<uint32_t>((*v)->data()) : 0;
    std::string row;
    PutLE<uint32_t>(&row, refcount + 1);
    row += *v ? std::string((*v)->substr(4)) : encoded;
    CIUIC_RETURN_IF_ERROR(txn.Put(Db::kTrees, snap.tree.Bytes(), row));
    if (refcount == 0) {  // a new tree: count its references to versions
      std::map<VersionId, uint32_t> uses;
      for (const TreeEntry& e : new_tree)
        if (e.kind != EntryKind::kDirectory) ++uses[e.version];
      for (auto& [vid, n] : uses) {
        auto mv = txn.Get(Db::kManifests, vid.Bytes());
        if (!mv.ok()) return mv.status();
        if (!*mv || (*mv)->size() < 4) return Status::Corruption("commit: tree names missing version " + vid.Hex());
        std::string m(**mv);
        StoreLE<uint32_t>(m.data(), LoadLE<uint32_t>(m.data()) + n);
        CIUIC_RETURN_IF_ERROR(txn.Put(Db::kManifests, vid.Bytes(), m));
      }
    }
  }

  // 3. The snapshot and its secondary rows.
  snap.id = ComputeSnapshotId(snap);
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kSnapshots, SeqKey(snap.seq), EncodeSnapshot(snap)));
  std::string seq_le;
  PutLE<uint64_t>(&seq_le, snap.seq);
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kSnapshotIds, SnapshotIdKey(snap.id), seq_le));
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kSteps, StepKey(snap.step, snap.seq), ""));
  for (const Change& c : snap.changes) {
    std::string v;
    PutLE<uint8_t>(&v, static_cast<uint8_t>(c.kind));
    c.version.AppendTo(&v);
    PutLE<uint64_t>(&v, c.size);
    CIUIC_RETURN_IF_ERROR(txn.Put(Db::kPaths, PathKey(c.path, snap.seq), v));
  }

  // 4. Pack rows: how far the index reaches into each pack, what is synced.
  for (auto& [pack, end] : synced) pack_deltas.try_emplace(pack);
  for (auto& [pack, d] : pack_deltas) {
    auto v = txn.Get(Db::kPacks, PackKey(pack));
    if (!v.ok()) return v.status();
    PackRow row;
    if (*v && !DecodePackRow(**v, &row)) return Status::Corruption("index: bad packs row");
    if (!*v && d.records == 0) continue;  // synced, but nothing of it indexed yet
    row.indexed_end = std::max(row.indexed_end, d.end);
    row.live_bytes += d.bytes;
    row.live_records += d.records;
    auto s = synced.find(pack);
    if (s != synced.end()) row.synced_end = std::max(row.synced_end, std::min(s->second, row.indexed_end));
    CIUIC_RETURN_IF_ERROR(txn.Put(Db::kPacks, PackKey(pack), EncodePackRow(row)));
  }
  CrashPoint("commit.before_txn_commit");
  *out = std::move(snap);
  return Status::Ok();
}

}  // namespace ciuicfs
