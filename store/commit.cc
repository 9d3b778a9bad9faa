#include "store/commit.h"
#include "store/parts.h"

#include <atomic>
#include <functional>
#include <chrono>
#include <map>
#include <random>
#include <set>

#include "store/base/coding.h"
#include "store/base/crash_point.h"
#include "store/index/keys.h"
#include "store/index/queries.h"

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
    if (part.empty() || part == "." || part == ".." || part.size() > 255 || part.find('\0') != std::string_view::npos)
      return Status::InvalidArgument("bad path '" + path + "'");
    start = slash + 1;
  }
  return Status::Ok();
}

// Chunk rows and manifests of the fresh versions, and the manifests of the
// versions saved as extents (`extent_ids`, one per edit); what they add to
// packs. `*added`: the versions whose manifest this commit stored.
Status IndexFreshVersions(Txn& txn, const CommitRequest& req, const std::vector<VersionId>& extent_ids,
                          const std::map<ChunkId, PackLocation>& pending_locs, std::map<uint32_t, PackDelta>* deltas,
                          uint64_t* bytes_added, std::vector<VersionId>* added) {
  std::map<VersionId, const PendingVersion*> fresh;
  std::set<VersionId> extent_versions;
  for (size_t i = 0; i < req.edits.size(); ++i) {
    const TreeEdit& e = req.edits[i];
    if (e.pending) fresh.emplace(e.pending->id(), e.pending);
    if (e.extent == 0 || !extent_versions.insert(extent_ids[i]).second) continue;
    CIUIC_RETURN_IF_ERROR(AddExtentVersion(txn, extent_ids[i], e.extent, e.length));
    added->push_back(extent_ids[i]);
  }
  for (auto& [vid, pv] : fresh) {
    CIUIC_RETURN_IF_ERROR(IndexPendingChunks(txn, *pv, pending_locs, deltas, bytes_added));
    auto known = txn.Get(Db::kManifests, HashKey(vid));
    if (!known.ok()) return known.status();
    if (*known) continue;
    CIUIC_RETURN_IF_ERROR(AddManifest(txn, pv->manifest()));
    added->push_back(vid);
  }
  return Status::Ok();
}

// The id of a version saved as bytes [0, length) of `extent`: unique, not
// a content hash (FORMAT.md, "Extents").
VersionId ExtentVersionId(uint32_t extent, uint64_t length, int64_t time_ns) {
  static const uint64_t nonce = [] {
    std::random_device rd;
    return (uint64_t(rd()) << 32) ^ rd();
  }();
  static std::atomic<uint64_t> counter{0};
  std::string in = "ciuicfs extent";
  PutLE<uint32_t>(&in, extent);
  PutLE<uint64_t>(&in, length);
  PutLE<int64_t>(&in, time_ns);
  PutLE<uint64_t>(&in, nonce + counter++);
  return Hash128::Of(in);
}

// Extent edits of one commit that name the same extent and length name
// one version: the names of a hard link (FORMAT.md, "Nodes"). The id an
// earlier such edit has, or zero.
VersionId SameExtentVersion(const std::vector<TreeEdit>& edits, const std::vector<VersionId>& ids, size_t i) {
  for (size_t j = 0; j < i && j < ids.size(); ++j)
    if (edits[j].extent == edits[i].extent && edits[j].length == edits[i].length && !ids[j].IsZero()) return ids[j];
  return {};
}

Result<std::vector<TreeOp>> ResolveEdits(Txn& txn, const CommitRequest& req, const std::vector<VersionId>& extent_ids) {
  std::vector<TreeOp> ops;
  for (size_t i = 0; i < req.edits.size(); ++i) {
    const TreeEdit& e = req.edits[i];
    TreeOp op;
    op.path = e.path;
    op.entry = TreeEntry{e.path, EntryKind::kDirectory, e.mode, 0, e.mtime_ns, {}, e.attrs};
    switch (e.op) {
      case TreeEdit::Op::kRemove: op.op = TreeOp::Op::kRemove; break;
      case TreeEdit::Op::kRename: op.op = TreeOp::Op::kRename; op.from = e.from; break;
      case TreeEdit::Op::kPutDirectory: break;
      case TreeEdit::Op::kPutSpecial: op.entry.kind = e.special; break;
      case TreeEdit::Op::kPutFile:
      case TreeEdit::Op::kPutSymlink:
        op.entry.kind = e.op == TreeEdit::Op::kPutSymlink ? EntryKind::kSymlink : EntryKind::kFile;
        if (e.pending) {
          op.entry.version = e.pending->id();
          op.entry.size = e.pending->size();
        } else if (e.extent != 0) {
          op.entry.version = extent_ids[i];
          op.entry.size = e.length;
        } else {
          auto m = LoadManifest(txn, e.existing, nullptr);
          if (!m.ok()) return m.status();
          op.entry.version = e.existing;
          op.entry.size = m->size;
          if (!e.carried) op.change = ChangeKind::kLink;
        }
        break;
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

}  // namespace

Status IndexPendingChunks(Txn& txn, const PendingVersion& pv, const std::map<ChunkId, PackLocation>& pending_locs,
                          std::map<uint32_t, PackDelta>* deltas, uint64_t* bytes_added) {
  for (const ChunkId& id : pv.pinned()) {
    auto row = GetChunkRow(txn, id);
    if (!row.ok()) return row.status();
    if (*row && (*row)->location.pack != kLostPack) continue;
    auto loc = pending_locs.find(id);
    if (loc == pending_locs.end())
      return Status::Corruption("commit: chunk " + id.Hex() + " is neither indexed nor pending");
    // A new row, or a lost one healed by fresh bytes (refcount kept).
    ChunkRow r = *row ? **row : ChunkRow{};
    r.location = loc->second;
    CIUIC_RETURN_IF_ERROR(PutChunkRow(txn, id, r));
    PackDelta& d = (*deltas)[loc->second.pack];
    d.end = std::max(d.end, loc->second.end());
    d.bytes += loc->second.record_bytes();
    d.records += 1;
    *bytes_added += loc->second.record_bytes();
  }
  return Status::Ok();
}

Status TakeFromPackRows(Txn& txn, const std::map<uint32_t, PackDelta>& left, std::set<uint32_t>* emptied) {
  auto less = [](uint64_t have, uint64_t gone) { return have > gone ? have - gone : 0; };
  for (auto& [pack, d] : left) {
    if (pack & kExtentPackFlag) {
      const uint32_t e = pack & ~kExtentPackFlag;
      auto er = GetExtentRow(txn, e);
      if (!er.ok()) return er.status();
      if (!*er) continue;
      ExtentRow r = **er;
      r.live_records = less(r.live_records, d.records);
      r.live_bytes = less(r.live_bytes, d.bytes);
      if (r.empty() && emptied) emptied->insert(e);
      CIUIC_RETURN_IF_ERROR(PutExtentRow(txn, e, r));  // gone with its last chunk
      continue;
    }
    auto pr = GetPackRow(txn, pack);
    if (!pr.ok()) return pr.status();
    if (!*pr) continue;
    PackRow r = **pr;
    r.live_bytes = less(r.live_bytes, d.bytes);
    r.live_records = less(r.live_records, d.records);
    CIUIC_RETURN_IF_ERROR(PutPackRow(txn, pack, r));
  }
  return Status::Ok();
}

Status UpdatePackRows(Txn& txn, std::map<uint32_t, PackDelta> deltas, const std::map<uint32_t, uint64_t>& synced) {
  for (auto& [pack, end] : synced) deltas.try_emplace(pack);
  for (auto& [pack, d] : deltas) {
    if (pack & kExtentPackFlag) {  // chunks kept in an extent: its row counts them
      const uint32_t extent = pack & ~kExtentPackFlag;
      auto row = GetExtentRow(txn, extent);
      if (!row.ok()) return row.status();
      ExtentRow r = *row ? **row : ExtentRow{};
      r.live_records += d.records;
      r.live_bytes += d.bytes;
      CIUIC_RETURN_IF_ERROR(PutExtentRow(txn, extent, r));
      continue;
    }
    auto found = GetPackRow(txn, pack);
    if (!found.ok()) return found.status();
    if (!*found && d.records == 0) continue;  // synced, but nothing of it indexed yet
    PackRow row = *found ? **found : PackRow{};
    row.indexed_end = std::max(row.indexed_end, d.end);
    row.live_bytes += d.bytes;
    row.live_records += d.records;
    auto s = synced.find(pack);
    if (s != synced.end()) row.NoteSynced(s->second);
    CIUIC_RETURN_IF_ERROR(PutPackRow(txn, pack, row));
  }
  return Status::Ok();
}

namespace {

// The packs holding already indexed chunks of the versions beyond what the
// index knows to be synced.
Result<std::vector<uint32_t>> UnsyncedPacksOf(const StoreParts& parts, const std::vector<const PendingVersion*>& versions) {
  std::set<uint32_t> packs;
  auto txn = parts.env->BeginRead();
  if (!txn.ok()) return txn.status();
  std::map<uint32_t, std::optional<PackRow>> rows;
  for (const PendingVersion* pv : versions) {
    for (const ChunkId& id : pv->pinned()) {
      auto row = GetChunkRow(**txn, id);
      if (!row.ok()) return row.status();
      if (!*row || (*row)->location.pack == kLostPack) continue;
      const PackLocation& loc = (*row)->location;
      if (loc.in_extent()) continue;  // synced by its ingest before its row was written
      auto it = rows.find(loc.pack);
      if (it == rows.end()) {
        auto pr = GetPackRow(**txn, loc.pack);
        if (!pr.ok()) return pr.status();
        it = rows.emplace(loc.pack, *pr).first;
      }
      if (!it->second || it->second->synced_end < loc.end()) packs.insert(loc.pack);
    }
  }
  return std::vector<uint32_t>(packs.begin(), packs.end());
}

// The rows of `carried`: chunk rows where the index has none (or a lost
// one, whose refcount is kept), then the manifests it lacks.
Status IndexCarried(Txn& txn, const CarriedRows& carried, std::map<uint32_t, PackDelta>* deltas, uint64_t* bytes_added,
                    std::vector<VersionId>* added) {
  for (const auto& [id, loc] : carried.chunks) {
    auto row = GetChunkRow(txn, id);
    if (!row.ok()) return row.status();
    if (*row && (*row)->location.pack != kLostPack) continue;
    ChunkRow r = *row ? **row : ChunkRow{};
    r.location = loc;
    CIUIC_RETURN_IF_ERROR(PutChunkRow(txn, id, r));
    PackDelta& d = (*deltas)[loc.pack];
    d.end = std::max(d.end, loc.end());
    d.bytes += loc.record_bytes();
    d.records += 1;
    *bytes_added += loc.record_bytes();
  }
  for (const Manifest& m : carried.manifests) {
    auto known = txn.Get(Db::kManifests, HashKey(m.id));
    if (!known.ok()) return known.status();
    if (*known) continue;
    CIUIC_RETURN_IF_ERROR(AddManifest(txn, m));
    added->push_back(m.id);
  }
  return Status::Ok();
}

Status CommitInTxn(const StoreParts& parts, Txn& txn, const CommitRequest& req, const std::vector<VersionId>& extent_ids,
                   const std::map<ChunkId, PackLocation>& pending_locs, std::map<uint32_t, uint64_t> synced,
                   Snapshot* out, const CarriedRows* carried = nullptr) {
  auto head = parts.chain->Head(txn, req.branch);
  if (!head.ok()) return head.status();
  Snapshot snap;
  snap.time_ns = req.time_ns != 0 ? req.time_ns
                                  : std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count();
  std::map<uint32_t, PackDelta> deltas;
  std::vector<VersionId> added;
  CIUIC_RETURN_IF_ERROR(IndexFreshVersions(txn, req, extent_ids, pending_locs, &deltas, &snap.bytes_added, &added));
  if (carried) {
    CIUIC_RETURN_IF_ERROR(IndexCarried(txn, *carried, &deltas, &snap.bytes_added, &added));
    for (auto& [pack, d] : deltas) synced[pack] = std::max(synced[pack], d.end);  // durable once written
  }
  auto ops = ResolveEdits(txn, req, extent_ids);
  if (!ops.ok()) return ops.status();
  auto update = parts.trees->Apply(txn, *head ? (*head)->tree : Hash128{}, *ops);
  if (!update.ok()) return update.status();
  // A fresh version that a later edit of this commit replaced or removed
  // is in no tree: its manifest goes again and its chunks' counts fall (gc
  // frees them).
  VersionUses unnamed;
  for (const VersionId& v : added)
    if (!update->versions_named.count(v)) unnamed[v] = 1;
  CIUIC_RETURN_IF_ERROR(DropVersionRefs(txn, unnamed));
  snap.tree = update->root;
  snap.changes = std::move(update->changes);
  CIUIC_RETURN_IF_ERROR(parts.chain->Append(txn, req.branch, *head, req.step, &snap));
  CIUIC_RETURN_IF_ERROR(UpdatePackRows(txn, std::move(deltas), synced));
  CrashPoint("commit.before_txn_commit");
  *out = std::move(snap);
  return Status::Ok();
}

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

TreeEdit TreeEdit::PutExtent(std::string path, uint32_t mode, int64_t mtime_ns, uint32_t extent, uint64_t length) {
  TreeEdit e = PutFile(std::move(path), mode, mtime_ns, nullptr);
  e.extent = extent;
  e.length = length;
  return e;
}

Status SyncChunksOf(const StoreParts& parts, const std::vector<const PendingVersion*>& versions,
                    std::map<uint32_t, uint64_t>* synced) {
  CIUIC_RETURN_IF_ERROR(parts.NoteSyncResult(parts.packs->SyncLane(PackLane::kIngest, synced)));
  // A fresh version may reuse chunks that another save stored without a
  // sync (another process's, or an earlier non-durable one of ours in a
  // pack no longer active): those packs must be durable too.
  auto unsynced = UnsyncedPacksOf(parts, versions);
  if (!unsynced.ok()) return unsynced.status();
  if (unsynced->empty()) return Status::Ok();
  Status s = parts.packs->SyncPacks(*unsynced, synced);
  // A failed sync of one of ours stops every write (FORMAT.md); of
  // another process's pack, it fails this commit only.
  if (!s.ok() && !parts.packs->failed().ok()) return parts.NoteSyncResult(s);
  return s;
}

TreeEdit TreeEdit::PutExisting(std::string path, uint32_t mode, int64_t mtime_ns, const VersionId& v) {
  TreeEdit e = PutFile(std::move(path), mode, mtime_ns, nullptr);
  e.existing = v;
  return e;
}

TreeEdit TreeEdit::PutCarried(std::string path, uint32_t mode, int64_t mtime_ns, const VersionId& v) {
  TreeEdit e = PutExisting(std::move(path), mode, mtime_ns, v);
  e.carried = true;
  return e;
}

TreeEdit TreeEdit::PutDirectory(std::string path, uint32_t mode, int64_t mtime_ns) {
  TreeEdit e = PutFile(std::move(path), mode, mtime_ns, nullptr);
  e.op = Op::kPutDirectory;
  return e;
}

TreeEdit TreeEdit::PutSymlink(std::string path, int64_t mtime_ns, const PendingVersion* v) {
  TreeEdit e = PutFile(std::move(path), 0777, mtime_ns, v);
  e.op = Op::kPutSymlink;
  return e;
}

TreeEdit TreeEdit::PutSpecial(std::string path, EntryKind kind, uint32_t mode, int64_t mtime_ns) {
  TreeEdit e = PutFile(std::move(path), mode, mtime_ns, nullptr);
  e.op = Op::kPutSpecial;
  e.special = kind;
  return e;
}

TreeEdit TreeEdit::PutEntry(const TreeEntry& e) {
  TreeEdit edit = PutExisting(e.path, e.mode, e.mtime_ns, e.version);
  if (e.kind == EntryKind::kDirectory) edit = PutDirectory(e.path, e.mode, e.mtime_ns);
  else if (e.kind == EntryKind::kSymlink) edit.op = Op::kPutSymlink;
  else if (!HasVersion(e.kind)) edit = PutSpecial(e.path, e.kind, e.mode, e.mtime_ns);
  edit.attrs = e.attrs;
  return edit;
}

TreeEdit TreeEdit::Remove(std::string path) {
  TreeEdit e;
  e.op = Op::kRemove;
  e.path = std::move(path);
  return e;
}

TreeEdit TreeEdit::Rename(std::string from, std::string to, uint32_t mode, int64_t mtime_ns) {
  TreeEdit e = PutFile(std::move(to), mode, mtime_ns, nullptr);
  e.op = Op::kRename;
  e.from = std::move(from);
  return e;
}

static Status ValidateEdits(const CommitRequest& req) {
  for (const TreeEdit& e : req.edits) {
    CIUIC_RETURN_IF_ERROR(ValidatePath(e.path));
    if (e.op == TreeEdit::Op::kRename) CIUIC_RETURN_IF_ERROR(ValidatePath(e.from));
    if (e.op == TreeEdit::Op::kPutSpecial && (uint8_t(e.special) < uint8_t(EntryKind::kFifo) ||
                                              uint8_t(e.special) > kLastEntryKind))
      return Status::InvalidArgument("commit: '" + e.path + "': not a special file's kind");
    if (e.attrs.xattrs.size() > kMaxXattrs)
      return Status::InvalidArgument("commit: '" + e.path + "': more than " + std::to_string(kMaxXattrs) + " xattrs");
    for (const auto& [name, value] : e.attrs.xattrs)
      if (name.empty() || name.size() > kMaxXattrName || value.size() > kMaxXattrValue)
        return Status::InvalidArgument("commit: '" + e.path + "': an xattr name of 1-255 bytes and a value of at most "
                                       "64 KiB");
  }
  return Status::Ok();
}

static int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status PrepareForLog(CommitRequest* req) {
  CIUIC_RETURN_IF_ERROR(ValidateEdits(*req));
  if (req->time_ns == 0) req->time_ns = NowNs();
  req->version_ids.assign(req->edits.size(), VersionId{});
  for (size_t i = 0; i < req->edits.size(); ++i) {
    const TreeEdit& e = req->edits[i];
    if (e.pending) return Status::InvalidArgument("a commit of a fresh ingest cannot be logged");
    if (e.extent == 0) continue;
    req->version_ids[i] = SameExtentVersion(req->edits, req->version_ids, i);
    if (req->version_ids[i].IsZero()) req->version_ids[i] = ExtentVersionId(e.extent, e.length, req->time_ns);
  }
  return Status::Ok();
}

std::vector<Change> LoggedChanges(const CommitRequest& req) {
  std::vector<Change> out;
  for (size_t i = 0; i < req.edits.size() && i < req.version_ids.size(); ++i)
    if (req.edits[i].extent != 0) {
      Change c;
      c.path = req.edits[i].path;
      c.kind = ChangeKind::kPut;
      c.version = req.version_ids[i];
      out.push_back(std::move(c));
    }
  return out;
}

Result<std::vector<Snapshot>> CommitMany(const StoreParts& parts, const std::vector<CommitRequest>& reqs,
                                         const std::function<Status(Txn&)>& also) {
  CIUIC_RETURN_IF_ERROR(parts.CanWrite());
  bool durable = false;
  for (const CommitRequest& req : reqs) {
    CIUIC_RETURN_IF_ERROR(ValidateEdits(req));
    durable |= req.durable;
  }
  // Where the not-yet-indexed chunks of the fresh versions lie, read before
  // the write transaction (lock order: PinTable, then LMDB). The versions'
  // pins keep these entries alive until the commit is done.
  std::map<ChunkId, PackLocation> pending_locs;
  std::vector<const PendingVersion*> fresh;
  std::vector<std::vector<VersionId>> extent_ids(reqs.size());
  std::vector<uint32_t> extents;
  const int64_t now = NowNs();
  for (size_t r = 0; r < reqs.size(); ++r) {
    const CommitRequest& req = reqs[r];
    extent_ids[r].resize(req.edits.size());
    for (size_t i = 0; i < req.edits.size(); ++i) {
      const TreeEdit& e = req.edits[i];
      if (e.pending) {
        pending_locs.merge(parts.pins->PendingLocations(e.pending->pinned()));
        fresh.push_back(e.pending);
      }
      if (e.extent == 0) continue;
      extent_ids[r][i] = i < req.version_ids.size() && !req.version_ids[i].IsZero()
                             ? req.version_ids[i]
                             : SameExtentVersion(req.edits, extent_ids[r], i);
      if (extent_ids[r][i].IsZero()) extent_ids[r][i] = ExtentVersionId(e.extent, e.length, req.time_ns != 0 ? req.time_ns : now);
      extents.push_back(e.extent);
    }
  }
  std::map<uint32_t, uint64_t> synced;
  if (durable) {
    // The extents' bytes first, then the packs', then the index names them.
    CIUIC_RETURN_IF_ERROR(parts.NoteSyncResult(parts.extents->SyncCommitted(extents)));
    CIUIC_RETURN_IF_ERROR(SyncChunksOf(parts, fresh, &synced));
  }
  std::vector<Snapshot> snaps;
  CIUIC_RETURN_IF_ERROR(parts.env->Write([&](Txn& txn) -> Status {
    snaps.assign(reqs.size(), Snapshot{});
    for (size_t r = 0; r < reqs.size(); ++r)
      CIUIC_RETURN_IF_ERROR(CommitInTxn(parts, txn, reqs[r], extent_ids[r], pending_locs, synced, &snaps[r]));
    return also ? also(txn) : Status::Ok();
  }));
  CrashPoint("commit.after_txn");
  for (uint32_t e : extents) parts.extents->NoteCommitted(e);
  for (const PendingVersion* pv : fresh) parts.pins->MarkIndexed(pv->pinned());  // rows exist now
  if (durable) CIUIC_RETURN_IF_ERROR(parts.NoteSyncResult(parts.env->Sync()));
  return snaps;
}

Status CommitCarriedInTxn(const StoreParts& parts, Txn& txn, const CommitRequest& req, const CarriedRows& carried,
                          Snapshot* out) {
  CIUIC_RETURN_IF_ERROR(ValidateEdits(req));
  for (const TreeEdit& e : req.edits)
    if (e.pending || e.extent != 0) return Status::InvalidArgument("a carried commit names a fresh ingest or an extent");
  return CommitInTxn(parts, txn, req, std::vector<VersionId>(req.edits.size()), {}, {}, out, &carried);
}

Result<Snapshot> CommitSnapshot(const StoreParts& parts, const CommitRequest& req) {
  auto snaps = CommitMany(parts, {req}, nullptr);
  if (!snaps.ok()) return snaps.status();
  return std::move(snaps->front());
}

}  // namespace ciuicfs
