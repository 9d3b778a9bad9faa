#include "store/index/queries.h"

namespace ciuicfs {
namespace {

std::string HexOf(std::string_view key) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : key.substr(0, 40)) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

Status AddChunkRefs(Txn& txn, const std::map<ChunkId, uint32_t>& uses, bool add) {
  for (auto& [id, n] : uses) {
    auto row = GetChunkRow(txn, id);
    if (!row.ok()) return row.status();
    if (!*row) return Status::Corruption("index: version names chunk " + id.Hex() + ", which has no row");
    ChunkRow r = **row;
    r.refcount = add ? r.refcount + n : (r.refcount > n ? r.refcount - n : 0);
    CIUIC_RETURN_IF_ERROR(PutChunkRow(txn, id, r));
  }
  return Status::Ok();
}

std::map<ChunkId, uint32_t> ChunkUses(const Manifest& m) {
  std::map<ChunkId, uint32_t> uses;
  for (const ChunkRef& c : m.chunks) ++uses[c.id];
  return uses;
}

}  // namespace

Status CorruptRow(Db db, std::string_view key) {
  return Status::Corruption(std::string("index: undecodable ") + DbName(db) + " row " + HexOf(key));
}

Result<std::optional<ChunkRow>> GetChunkRow(Txn& txn, const ChunkId& id) {
  const std::string key = HashKey(id);
  auto v = txn.Get(Db::kChunks, key);
  if (!v.ok()) return v.status();
  if (!*v) return std::optional<ChunkRow>();
  ChunkRow row;
  if (!DecodeChunkRow(**v, &row)) return CorruptRow(Db::kChunks, key);
  return std::optional<ChunkRow>(row);
}

Result<PackLocation> LocateChunk(LmdbEnv* env, const ChunkId& id) {
  return WithRead(env, [&](Txn& txn) -> Result<PackLocation> {
    auto row = GetChunkRow(txn, id);
    if (!row.ok()) return row.status();
    if (!*row) return Status::Corruption("chunk " + id.Hex() + " is missing from the index");
    if ((*row)->location.pack == kLostPack)
      return Status::Corruption("chunk " + id.Hex() + " was lost (its pack bytes never reached the disk)");
    return (*row)->location;
  });
}

Status PutChunkRow(Txn& txn, const ChunkId& id, const ChunkRow& row) {
  return txn.Put(Db::kChunks, HashKey(id), EncodeChunkRow(row));
}

Result<std::optional<PackRow>> GetPackRow(Txn& txn, uint32_t pack) {
  const std::string key = PackKey(pack);
  auto v = txn.Get(Db::kPacks, key);
  if (!v.ok()) return v.status();
  if (!*v) return std::optional<PackRow>();
  PackRow row;
  if (!DecodePackRow(**v, &row)) return CorruptRow(Db::kPacks, key);
  return std::optional<PackRow>(row);
}

Status PutPackRow(Txn& txn, uint32_t pack, const PackRow& row) {
  return txn.Put(Db::kPacks, PackKey(pack), EncodePackRow(row));
}

Result<std::map<uint32_t, PackRow>> LoadPackRows(Txn& txn) {
  std::map<uint32_t, PackRow> rows;
  Status bad;
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kPacks, "", [&](std::string_view k, std::string_view v) {
    uint32_t pack = 0;
    PackRow row;
    if (!DecodePackKey(k, &pack) || !DecodePackRow(v, &row)) bad = CorruptRow(Db::kPacks, k);
    else rows[pack] = row;
    return bad.ok();
  }));
  CIUIC_RETURN_IF_ERROR(bad);
  return rows;
}

// Takes `vid` off the row of `extent`.
static Status RemoveFromExtentRow(Txn& txn, uint32_t extent, const VersionId& vid) {
  auto row = GetExtentRow(txn, extent);
  if (!row.ok()) return row.status();
  if (!*row) return Status::Ok();
  auto& held = (*row)->versions;
  std::erase_if(held, [&](const ExtentRow::Held& h) { return h.version == vid; });
  return PutExtentRow(txn, extent, **row);
}

Result<Manifest> LoadManifest(Txn& txn, const VersionId& id, uint32_t* refcount) {
  Manifest m;
  m.id = id;
  const std::string key = HashKey(id);
  auto v = txn.Get(Db::kManifests, key);
  if (!v.ok()) return v.status();
  if (!*v) return Status::NotFound("no file version " + id.Hex());
  if (!DecodeManifest(**v, &m, refcount)) return CorruptRow(Db::kManifests, key);
  return m;
}

Status AddManifest(Txn& txn, const Manifest& m) {
  auto existing = txn.Get(Db::kManifests, HashKey(m.id));
  if (!existing.ok()) return existing.status();
  if (*existing) return Status::Ok();
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kManifests, HashKey(m.id), EncodeManifest(m, 0)));
  return AddChunkRefs(txn, ChunkUses(m), true);
}

Result<std::map<std::string, uint64_t>> LoadNamedSeqs(Txn& txn, Db db) {
  std::map<std::string, uint64_t> out;
  Status bad;
  CIUIC_RETURN_IF_ERROR(txn.Scan(db, "", [&](std::string_view k, std::string_view v) {
    uint64_t seq;
    if (!DecodeSeqValue(v, &seq)) bad = CorruptRow(db, k);
    else out[std::string(k)] = seq;
    return bad.ok();
  }));
  CIUIC_RETURN_IF_ERROR(bad);
  return out;
}

Status AddRowRefs(Txn& txn, Db db, const Hash128& id, uint64_t n, const char* what) {
  const std::string key = HashKey(id);
  auto v = txn.Get(db, key);
  if (!v.ok()) return v.status();
  if (!*v) return Status::Corruption(std::string("index: a tree names missing ") + what + " " + id.Hex());
  uint32_t refcount;
  if (!RowRefcount(**v, &refcount)) return CorruptRow(db, key);
  std::string row(**v);
  SetRowRefcount(&row, static_cast<uint32_t>(refcount + n));
  return txn.Put(db, key, row);
}

Status AddVersionRefs(Txn& txn, const VersionUses& uses) {
  for (auto& [vid, n] : uses) CIUIC_RETURN_IF_ERROR(AddRowRefs(txn, Db::kManifests, vid, n, "version"));
  return Status::Ok();
}

Status DropVersionRefs(Txn& txn, const VersionUses& uses) {
  for (auto& [vid, n] : uses) {
    uint32_t refcount = 0;
    auto m = LoadManifest(txn, vid, &refcount);
    if (!m.ok()) return m.status();
    if (refcount > n) {
      CIUIC_RETURN_IF_ERROR(txn.Put(Db::kManifests, HashKey(vid), EncodeManifest(*m, refcount - n)));
      continue;
    }
    CIUIC_RETURN_IF_ERROR(txn.Del(Db::kManifests, HashKey(vid)));
    if (m->extent != 0) CIUIC_RETURN_IF_ERROR(RemoveFromExtentRow(txn, m->extent, vid));
    else CIUIC_RETURN_IF_ERROR(AddChunkRefs(txn, ChunkUses(*m), false));
  }
  return Status::Ok();
}

Result<std::optional<ExtentRow>> GetExtentRow(Txn& txn, uint32_t extent) {
  const std::string key = ExtentKey(extent);
  auto v = txn.Get(Db::kExtents, key);
  if (!v.ok()) return v.status();
  if (!*v) return std::optional<ExtentRow>();
  ExtentRow row;
  if (!DecodeExtentRow(**v, &row)) return CorruptRow(Db::kExtents, key);
  return std::optional<ExtentRow>(std::move(row));
}

Status PutExtentRow(Txn& txn, uint32_t extent, const ExtentRow& row) {
  if (row.empty()) {
    Status s = txn.Del(Db::kExtents, ExtentKey(extent));
    return s.IsNotFound() ? Status::Ok() : s;
  }
  return txn.Put(Db::kExtents, ExtentKey(extent), EncodeExtentRow(row));
}

Result<std::map<uint32_t, ExtentRow>> LoadExtentRows(Txn& txn) {
  std::map<uint32_t, ExtentRow> rows;
  Status bad;
  CIUIC_RETURN_IF_ERROR(txn.Scan(Db::kExtents, "", [&](std::string_view k, std::string_view v) {
    uint32_t extent;
    ExtentRow row;
    if (!DecodeExtentKey(k, &extent) || !DecodeExtentRow(v, &row)) bad = CorruptRow(Db::kExtents, k);
    else rows[extent] = std::move(row);
    return bad.ok();
  }));
  CIUIC_RETURN_IF_ERROR(bad);
  return rows;
}

Status AddExtentVersion(Txn& txn, const VersionId& id, uint32_t extent, uint64_t length) {
  Manifest m;
  m.id = id;
  m.size = length;
  m.extent = extent;
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kManifests, HashKey(id), EncodeManifest(m, 0)));
  auto row = GetExtentRow(txn, extent);
  if (!row.ok()) return row.status();
  ExtentRow r = *row ? **row : ExtentRow{};
  r.versions.push_back(ExtentRow::Held{id, length});
  return PutExtentRow(txn, extent, r);
}

Result<bool> ReplaceExtentManifest(Txn& txn, uint32_t extent, const Manifest& ingested) {
  uint32_t refcount = 0;
  auto m = LoadManifest(txn, ingested.id, &refcount);
  if (!m.ok()) return m.status().IsNotFound() ? Result<bool>(false) : Result<bool>(m.status());
  if (m->extent != extent || m->size != ingested.size) return false;
  Manifest chunks = ingested;
  chunks.extent = 0;
  CIUIC_RETURN_IF_ERROR(txn.Put(Db::kManifests, HashKey(chunks.id), EncodeManifest(chunks, refcount)));
  CIUIC_RETURN_IF_ERROR(AddChunkRefs(txn, ChunkUses(chunks), true));
  CIUIC_RETURN_IF_ERROR(RemoveFromExtentRow(txn, extent, chunks.id));
  return true;
}

Status MoveExtentRows(Txn& txn, uint32_t from, uint32_t to) {
  auto row = GetExtentRow(txn, from);
  if (!row.ok()) return row.status();
  if (!*row) return Status::Ok();
  auto dest = GetExtentRow(txn, to);
  if (!dest.ok()) return dest.status();
  ExtentRow moved = *dest ? **dest : ExtentRow{};
  for (const ExtentRow::Held& h : (*row)->versions) {
    uint32_t refcount = 0;
    auto m = LoadManifest(txn, h.version, &refcount);
    if (!m.ok()) return m.status();
    if (m->extent != from) continue;
    m->extent = to;
    CIUIC_RETURN_IF_ERROR(txn.Put(Db::kManifests, HashKey(h.version), EncodeManifest(*m, refcount)));
    moved.versions.push_back(h);
  }
  (*row)->versions.clear();
  CIUIC_RETURN_IF_ERROR(PutExtentRow(txn, from, **row));
  return PutExtentRow(txn, to, moved);
}

}  // namespace ciuicfs
