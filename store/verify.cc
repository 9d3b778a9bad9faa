// Verify: walks every snapshot, tree row (TreeStore::Audit), version and chunk, reads every chunk
// back against its id, recomputes every reference count, and checks the
// packs against the index. Reports problems; repairs nothing.
#include "store/verify.h"
#include "store/parts.h"

#include <algorithm>
#include <map>
#include <set>

#include "store/index/queries.h"
#include "store/upgrade.h"

namespace ciuicfs {

namespace {

// Whether version `vid` has left its extent since the walk's transaction
// began (a mount beside a read-only verify ingests as it goes).
bool IngestedSince(const StoreParts& parts, const VersionId& vid) {
  auto txn = parts.env->BeginRead();
  if (!txn.ok()) return false;
  auto m = LoadManifest(**txn, vid, nullptr);
  return m.ok() && m->extent == 0;
}

}  // namespace

Result<VerifyReport> VerifyStore(const StoreParts& parts, const std::function<void(uint64_t, uint64_t)>& progress) {
  BackgroundPause pause(parts.background);  // no compaction moves chunks under the walk
  VerifyReport report;
  auto problem = [&](std::string line) { report.problems.push_back(std::move(line)); };

  // Collect the whole reference graph in one read transaction.
  std::vector<Snapshot> snapshots;
  std::map<Hash128, uint32_t> root_refs;                    // tree root -> snapshots naming it
  std::map<VersionId, uint32_t> version_refs;               // version -> tree entries naming it
  std::map<VersionId, std::string> version_example;         // version -> "path@seq" where it first appeared
  std::map<ChunkId, uint32_t> chunk_refs;                   // chunk -> manifest occurrences
  std::map<ChunkId, std::set<VersionId>> chunk_versions;
  std::map<ChunkId, ChunkRow> rows;
  std::map<uint32_t, PackRow> pack_rows;
  std::map<uint32_t, std::vector<std::pair<VersionId, uint64_t>>> in_extents;  // extent -> (version, length)
  std::map<uint32_t, ExtentRow> extent_rows_all;
  {
    auto txn = parts.env->BeginRead();
    if (!txn.ok()) return txn.status();
    auto snaps = parts.chain->List(**txn);
    if (!snaps.ok()) return snaps.status();
    snapshots = std::move(snaps.value());
    auto converted = ConvertedThrough(**txn);  // their ids name their format 1 trees
    if (!converted.ok()) return converted.status();
    for (const Snapshot& s : snapshots) {
      if (s.seq > *converted && ComputeSnapshotId(s) != s.id)
        problem("snapshot " + std::to_string(s.seq) + ": id does not match its content");
      if (!s.tree.IsZero()) ++root_refs[s.tree];
      for (const Change& c : s.changes)
        if (c.kind != ChangeKind::kRemove && !c.version.IsZero())
          version_example.try_emplace(c.version, c.path + "@" + std::to_string(s.seq));
    }
    // The trees: every stored row read once, its refcount checked.
    auto audit = parts.trees->Audit(**txn, root_refs);
    if (!audit.ok()) return audit.status();
    for (std::string& p : audit->problems) problem(std::move(p));
    version_refs = std::move(audit->version_uses);
    for (auto& [vid, n] : audit->version_pending)
      if (!version_refs.count(vid))
        problem("version " + vid.ShortHex() + ": the reference log holds " + std::to_string(n) +
                " references to it, and no tree names it");
    for (auto& [vid, name] : audit->version_names) version_example.try_emplace(vid, name);
    for (auto& [vid, uses] : version_refs) {
      uint32_t stored_ref = 0;
      auto m = LoadManifest(**txn, vid, &stored_ref);
      if (!m.ok()) {
        problem("version " + vid.ShortHex() + " (" + version_example[vid] + "): " + m.status().message());
        continue;
      }
      auto pending = audit->version_pending.find(vid);
      if (pending != audit->version_pending.end()) stored_ref += static_cast<uint32_t>(pending->second);
      if (stored_ref != uses)
        problem("version " + vid.ShortHex() + ": refcount " + std::to_string(stored_ref) + ", referenced " +
                std::to_string(uses) + " times");
      for (const ChunkRef& c : m->chunks) {
        ++chunk_refs[c.id];
        chunk_versions[c.id].insert(vid);
      }
      if (m->extent != 0) in_extents[m->extent].emplace_back(vid, m->size);
    }
    // Versions still in extents: listed in their extent's row, whose file
    // holds at least their bytes.
    auto extent_rows = LoadExtentRows(**txn);
    if (!extent_rows.ok()) return extent_rows.status();
    extent_rows_all = *extent_rows;
    for (auto& [e, held] : in_extents) {
      const std::string name = parts.extents->Name(e);
      auto row = extent_rows->find(e);
      auto size = parts.extents->FileSize(e);
      for (auto& [vid, length] : held) {
        const std::string which = "version " + vid.ShortHex() + " (" + version_example[vid] + ")";
        bool listed = false;
        if (row != extent_rows->end())
          for (const ExtentRow::Held& h : row->second.versions) listed |= h.version == vid && h.length == length;
        if (!listed) problem(which + " is in " + name + ", whose row does not list it");
        if (!size.ok() && IngestedSince(parts, vid)) continue;  // a mount's ingest moved it meanwhile
        if (!size.ok()) problem(which + ": " + name + " is missing (" + size.status().message() + ")");
        else if (*size < length)
          problem(which + ": " + name + " is " + std::to_string(*size) + " bytes, the version " + std::to_string(length) +
                  " (lost)");
      }
      report.extent_versions += held.size();
    }
    for (auto& [e, row] : *extent_rows)
      for (const ExtentRow::Held& h : row.versions)
        if (!in_extents.count(e) || std::none_of(in_extents[e].begin(), in_extents[e].end(),
                                                 [&](const auto& v) { return v.first == h.version; }))
          problem(parts.extents->Name(e) + ": its row lists version " + h.version.ShortHex() +
                  ", which is not stored in it");
    // Rows that do not decode are problems to report, and the walk goes on.
    auto bad_row = [&](Db db, std::string_view k) { problem(CorruptRow(db, k).message()); };
    CIUIC_RETURN_IF_ERROR((*txn)->Scan(Db::kManifests, "", [&](std::string_view k, std::string_view) {
      VersionId id;
      if (!DecodeHashKey(k, &id)) bad_row(Db::kManifests, k);
      else if (!version_refs.count(id)) problem("version " + id.ShortHex() + " is stored but no snapshot uses it");
      return true;
    }));
    CIUIC_RETURN_IF_ERROR((*txn)->Scan(Db::kChunks, "", [&](std::string_view k, std::string_view v) {
      ChunkId id;
      ChunkRow row;
      if (!DecodeHashKey(k, &id) || !DecodeChunkRow(v, &row)) bad_row(Db::kChunks, k);
      else rows[id] = row;
      return true;
    }));
    CIUIC_RETURN_IF_ERROR((*txn)->Scan(Db::kPacks, "", [&](std::string_view k, std::string_view v) {
      uint32_t pack;
      PackRow row;
      if (!DecodePackKey(k, &pack) || !DecodePackRow(v, &row)) bad_row(Db::kPacks, k);
      else pack_rows[pack] = row;
      return true;
    }));
  }
  report.snapshots = snapshots.size();
  report.versions = version_refs.size();
  report.packs = pack_rows.size();

  auto affected = [&](const ChunkId& id) {
    std::string out;
    for (const VersionId& v : chunk_versions[id]) {
      if (!out.empty()) out += ", ";
      out += version_example.count(v) ? version_example[v] : v.ShortHex();
    }
    return out.empty() ? std::string("no file version") : out;
  };

  // Delta records hold a reference on each base (FORMAT.md, "Encoded
  // records").
  std::map<ChunkId, uint32_t> dependents;
  for (auto& [id, row] : rows) {
    for (const DeltaBase& b : row.bases) {
      ++dependents[b.id];
      if (!rows.count(b.id)) problem("chunk " + id.Hex() + " is a delta on chunk " + b.id.Hex() + ", which has no row");
    }
    if (IsDelta(row.location.encoding) && row.bases.empty())
      problem("chunk " + id.Hex() + " is a delta whose row names no base");
  }
  for (auto& [id, row] : rows) {
    const uint32_t want = dependents.count(id) ? dependents[id] : 0;
    if (row.dependents != want)
      problem("chunk " + id.Hex() + ": " + std::to_string(row.dependents) + " dependents counted, " +
              std::to_string(want) + " deltas name it");
  }

  // Every referenced chunk: indexed, refcount right, bytes match the id.
  std::string buf;
  uint64_t total = 0, done = 0, last_report = 0;
  for (auto& [id, uses] : chunk_refs) {
    auto it = rows.find(id);
    if (it != rows.end()) total += it->second.location.raw_len;
  }
  for (auto& [id, uses] : chunk_refs) {
    ++report.chunks;
    auto it = rows.find(id);
    if (it != rows.end()) done += it->second.location.raw_len;
    if (progress && done - last_report >= (32u << 20)) {
      progress(done, total);
      last_report = done;
    }
    if (it == rows.end()) {
      problem("chunk " + id.Hex() + " is missing from the index; affects " + affected(id));
      continue;
    }
    if (it->second.location.pack == kLostPack) {
      problem("chunk " + id.Hex() + " was lost (power loss before its pack bytes were synced); affects " + affected(id));
      continue;
    }
    const uint32_t as_base = dependents.count(id) ? dependents[id] : 0;
    if (it->second.refcount != uses + as_base)
      problem("chunk " + id.Hex() + ": refcount " + std::to_string(it->second.refcount) + ", referenced " +
              std::to_string(uses + as_base) + " times");
    Status s = parts.packs->Read(id, it->second.location, &buf);
    if (!s.ok()) problem(s.message() + "; affects " + affected(id));
  }
  if (progress) progress(total, total);
  // Every index row points inside a listed pack (or a listed extent);
  // live accounting matches.
  std::map<uint32_t, std::pair<uint64_t, uint64_t>> live;  // pack -> (bytes, max end)
  std::map<uint32_t, std::pair<uint64_t, uint64_t>> kept;  // extent -> (records, bytes)
  for (auto& [id, row] : rows) {
    if (row.location.pack == kLostPack) continue;  // reported above
    if (row.refcount != 0 && !chunk_refs.count(id) && row.refcount != (dependents.count(id) ? dependents[id] : 0))
      problem("chunk " + id.Hex() + ": refcount " + std::to_string(row.refcount) + " but no version uses it");
    if (row.location.in_extent()) {
      const uint32_t e = row.location.extent();
      kept[e].first += 1;
      kept[e].second += row.location.record_bytes();
      auto size = parts.extents->FileSize(e);
      if (!size.ok()) problem("chunk " + id.Hex() + " is in " + parts.extents->Name(e) + ", which is missing");
      else if (*size < row.location.end()) problem("chunk " + id.Hex() + " lies past the end of " + parts.extents->Name(e));
      continue;
    }
    auto& l = live[row.location.pack];
    l.first += kRecordHeaderSize + row.location.stored_len;
    l.second = std::max(l.second, row.location.end());
    if (!pack_rows.count(row.location.pack))
      problem("chunk " + id.Hex() + " points at " + parts.packs->Name(row.location.pack) + ", which the index does not list");
  }
  for (auto& [e, row] : extent_rows_all) {
    auto k = kept.find(e);
    const uint64_t records = k == kept.end() ? 0 : k->second.first, bytes = k == kept.end() ? 0 : k->second.second;
    if (records != row.live_records || bytes != row.live_bytes)
      problem(parts.extents->Name(e) + ": " + std::to_string(row.live_records) + " chunks of " +
              std::to_string(row.live_bytes) + " bytes recorded, " + std::to_string(records) + " of " +
              std::to_string(bytes) + " counted");
  }
  for (auto& [e, k] : kept)
    if (!extent_rows_all.count(e))
      problem(parts.extents->Name(e) + " holds " + std::to_string(k.first) + " chunks, and the index has no row for it");
  for (auto& [pack, row] : pack_rows) {
    auto size = parts.packs->FileSize(pack);
    const std::string name = parts.packs->Name(pack);
    if (!size.ok()) {
      problem(name + " is missing (" + size.status().message() + ")");
      continue;
    }
    if (*size < row.indexed_end)
      problem(name + " is " + std::to_string(*size) + " bytes, the index reaches " + std::to_string(row.indexed_end));
    if (live[pack].first != row.live_bytes)
      problem(name + ": live bytes " + std::to_string(row.live_bytes) + " recorded, " +
              std::to_string(live[pack].first) + " counted");
    if (live[pack].second > row.indexed_end) problem(name + ": a chunk lies past the indexed end");
  }
  return report;
}

}  // namespace ciuicfs
