#include "store/encode/reencode_job.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <utility>

#include "store/base/coding.h"
#include "store/base/crash_point.h"
#include "store/base/log.h"
#include "store/chain/branches.h"
#include "store/commit.h"
#include "store/encode/codec.h"
#include "store/index/keys.h"
#include "store/index/queries.h"

namespace ciuicfs {
namespace {

bool SamePlace(const PackLocation& a, const PackLocation& b) {
  return a.pack == b.pack && a.offset == b.offset && a.encoding == b.encoding;
}

bool IsRaw(const PackLocation& loc) {
  return loc.pack != kLostPack && (loc.encoding == Encoding::kRaw || loc.encoding == Encoding::kInExtent);
}

// A name's series: its runs of digits as '#' ("step_000010" -> "step_#").
std::string SeriesOf(std::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) {
      out.push_back(name[i]);
      continue;
    }
    out.push_back('#');
    while (i + 1 < name.size() && std::isdigit(static_cast<unsigned char>(name[i + 1]))) ++i;
  }
  return out;
}

// The numbers in a name, in order (leading zeros and all but 18 digits dropped).
std::vector<uint64_t> NumbersOf(std::string_view name) {
  std::vector<uint64_t> out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(name[i]))) continue;
    uint64_t v = 0;
    for (int d = 0; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i, ++d)
      if (d < 18) v = v * 10 + uint64_t(name[i] - '0');
    out.push_back(v);
  }
  return out;
}

std::string_view LastComponent(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

Result<std::optional<VersionId>> PreviousVersion(TreeStore* trees, Txn& txn, const Hash128& root,
                                                 const std::string& path, const VersionId& self) {
  auto is_other_file = [&](const std::optional<TreeEntry>& e) {
    return e && e->kind == EntryKind::kFile && !e->version.IsZero() && e->version != self;
  };
  auto here = trees->Lookup(txn, root, path);
  if (!here.ok()) return here.status();
  if (is_other_file(*here)) return std::optional<VersionId>((*here)->version);
  // The same file under the nearest earlier sibling of the deepest
  // directory with a number in its name: step_000010/model.pt takes
  // step_000005/model.pt.
  std::vector<std::string> parts;
  for (size_t from = 0;;) {
    size_t slash = path.find('/', from);
    parts.push_back(path.substr(from, slash == std::string::npos ? std::string::npos : slash - from));
    if (slash == std::string::npos) break;
    from = slash + 1;
  }
  for (size_t k = parts.size(); k-- > 0;) {
    const std::vector<uint64_t> mine = NumbersOf(parts[k]);
    if (mine.empty()) continue;
    std::string dir, rest;
    for (size_t i = 0; i < k; ++i) dir += (i ? "/" : "") + parts[i];
    for (size_t i = k + 1; i < parts.size(); ++i) rest += "/" + parts[i];
    auto siblings = trees->List(txn, root, dir);
    if (!siblings.ok()) return siblings.status();
    const std::string series = SeriesOf(parts[k]);
    std::optional<std::pair<std::vector<uint64_t>, std::string>> best;
    for (const TreeEntry& e : *siblings) {
      std::string_view name = LastComponent(e.path);
      if (name == parts[k] || SeriesOf(name) != series) continue;
      std::vector<uint64_t> n = NumbersOf(name);
      if (n < mine && (!best || n > best->first)) best.emplace(std::move(n), std::string(name));
    }
    if (!best) return std::optional<VersionId>();
    auto there = trees->Lookup(txn, root, (dir.empty() ? "" : dir + "/") + best->second + rest);
    if (!there.ok()) return there.status();
    if (is_other_file(*there)) return std::optional<VersionId>((*there)->version);
    return std::optional<VersionId>();
  }
  return std::optional<VersionId>();
}

Result<uint64_t> ReencodedThrough(Txn& txn) {
  auto v = txn.Get(Db::kMeta, kReencodedThroughKey);
  if (!v.ok()) return v.status();
  if (!*v) return uint64_t{0};
  if ((*v)->size() != 8) return CorruptRow(Db::kMeta, kReencodedThroughKey);
  return LoadLE<uint64_t>((*v)->data());
}

ReencodeJob::ReencodeJob(StoreParts parts, ReencodeStats* stats, std::function<void(bool)> done)
    : parts_(std::move(parts)),
      stats_(stats),
      done_(std::move(done)),
      throttle_(kBusyBytesPerSecond, [this] { return parts_.extents->saving(); }) {}

ReencodeJob::~ReencodeJob() {
  if (done_) done_(more_);
}

Status ReencodeJob::Prepare() {
  // Commits still in the commit log are not snapshots yet; while it cannot
  // be applied, nothing is taken on.
  if (parts_.see_log && !parts_.see_log().ok()) return Status::Ok();
  auto txn = parts_.env->BeginRead();
  if (!txn.ok()) return txn.status();
  Txn& t = **txn;
  auto cursor = ReencodedThrough(t);
  if (!cursor.ok()) return cursor.status();
  through_ = cursor_ = *cursor;
  std::vector<uint64_t> seqs;
  Status bad;
  CIUIC_RETURN_IF_ERROR(t.Scan(Db::kSnapshots, SeqKey(*cursor + 1), [&](std::string_view k, std::string_view) {
    uint64_t seq;
    if (!DecodeSeqKey(k, &seq)) bad = CorruptRow(Db::kSnapshots, k);
    else seqs.push_back(seq);
    return bad.ok() && seqs.size() < 4096;
  }));
  CIUIC_RETURN_IF_ERROR(bad);
  uint64_t budget = 0;
  // A version saved under a temporary name and renamed into place has its
  // previous version at the final name: the rename's link is its item too.
  std::map<VersionId, size_t> item_of;
  for (size_t n = 0; n < seqs.size(); ++n) {
    auto snap = parts_.chain->Get(t, seqs[n]);
    if (!snap.ok()) return snap.status();
    const bool puts = std::any_of(snap->changes.begin(), snap->changes.end(),
                                  [](const Change& c) { return c.kind == ChangeKind::kPut; });
    if (budget >= kBudget && puts) {  // a rename after the last put still comes along
      more_ = true;
      break;
    }
    std::vector<Item> items;
    bool ready = true;
    std::optional<Snapshot> parent;
    auto parent_seq = ParentOf(t, snap->seq);
    if (!parent_seq.ok()) return parent_seq.status();
    if (*parent_seq != 0) {
      auto p = parts_.chain->Get(t, *parent_seq);
      if (p.ok()) parent = std::move(*p);
      else if (!p.status().IsNotFound()) return p.status();  // dropped: no bases
    }
    for (const Change& c : snap->changes) {
      if (c.kind == ChangeKind::kRemove || c.version.IsZero()) continue;
      uint32_t refs = 0;
      auto m = LoadManifest(t, c.version, &refs);
      if (!m.ok()) {
        if (m.status().IsNotFound()) continue;  // released since (a later snapshot replaced it, then a prune)
        return m.status();
      }
      if (m->extent != 0) {  // not ingested yet: its ingest comes first
        ready = false;
        break;
      }
      Item item{std::move(*m), Manifest{}};
      if (parent) {
        auto prev = PreviousVersion(parts_.trees, t, parent->tree, c.path, item.version.id);
        if (!prev.ok()) return prev.status();
        if (*prev) {
          auto pm = LoadManifest(t, **prev, &refs);
          if (pm.ok() && pm->extent == 0) item.previous = std::move(*pm);
          else if (!pm.ok() && !pm.status().IsNotFound()) return pm.status();
        }
      }
      if (c.kind == ChangeKind::kPut) budget += item.version.size;
      items.push_back(std::move(item));
    }
    if (!ready) break;  // the ingest that makes it ready schedules another job
    for (Item& it : items) {
      auto known = item_of.find(it.version.id);
      if (known == item_of.end()) {
        item_of[it.version.id] = items_.size();
        items_.push_back(std::move(it));
      } else if (items_[known->second].previous.chunks.empty()) {
        items_[known->second].previous = std::move(it.previous);
      }
    }
    through_ = snap->seq;
    ++snapshots_;
    if (n + 1 == seqs.size() && seqs.size() == 4096) more_ = true;
  }
  return Status::Ok();
}

Result<std::vector<DeltaBase>> ReencodeJob::BasesFor(Txn& txn, const Manifest& prev, uint64_t from, uint64_t to,
                                                     const ChunkId& self) {
  std::vector<DeltaBase> bases;
  if (prev.chunks.empty() || from >= prev.size) return bases;
  std::vector<std::pair<int64_t, int64_t>> spans;  // of the bases taken, in chunk coordinates
  auto add = [&](const ChunkId& id, int64_t offset, const ChunkRow& row) {
    const uint32_t len = row.location.raw_len;
    // Only bases that overlap the chunk, never the chunk itself, each once.
    if (id == self || offset >= int64_t(to - from) || offset + int64_t(len) <= 0) return;
    // A keyframe that serves enough deltas already: this range gets a new one.
    auto planned = bases_.find(id);
    if (row.dependents + (planned == bases_.end() ? 0 : planned->second) >= kMaxDependents) return;
    DeltaBase b{id, offset};
    if (std::find(bases.begin(), bases.end(), b) == bases.end() && bases.size() < kMaxDeltaBases) {
      bases.push_back(b);
      spans.emplace_back(offset, offset + int64_t(len));
    }
  };
  for (size_t j = prev.ChunkAt(from); j < prev.chunks.size() && prev.ChunkStart(j) < to; ++j) {
    auto row = GetChunkRow(txn, prev.chunks[j].id);
    if (!row.ok()) return row.status();
    if (!*row || (*row)->location.pack == kLostPack) continue;
    const int64_t at = int64_t(prev.ChunkStart(j)) - int64_t(from);
    // What this job made of it counts as done: an earlier snapshot's
    // chunk it turned into a delta is no base either.
    auto planned = planned_.find(prev.chunks[j].id);
    const std::vector<DeltaBase>& own =
        planned != planned_.end() ? moves_[planned->second].second.bases : (*row)->bases;
    const bool delta = planned != planned_.end() ? !own.empty()
                                                 : IsDelta((*row)->location.encoding);
    if (!delta) {
      add(prev.chunks[j].id, at, **row);
      continue;
    }
    // A delta is no base; its own bases, at the same file bytes, are.
    for (const DeltaBase& b : own) {
      auto base = GetChunkRow(txn, b.id);
      if (!base.ok()) return base.status();
      if (*base) add(b.id, at + b.offset, **base);
    }
  }
  // A delta only where its bases cover every byte the previous version
  // has: a delta's uncovered part could never be a base, so that range
  // would go on uncovered save after save; a keyframe starts it afresh.
  const int64_t want = int64_t(std::min<uint64_t>(to, prev.size) - from);
  std::sort(spans.begin(), spans.end());
  int64_t covered = 0;
  for (const auto& [lo, hi] : spans)
    if (lo <= covered) covered = std::max(covered, hi);
  if (covered < want) bases.clear();
  return bases;
}

Status ReencodeJob::EncodeChunk(const Item& item, size_t i) {
  const ChunkId& id = item.version.chunks[i].id;
  if (!seen_.insert(id).second) return Status::Ok();
  const uint64_t from = item.version.ChunkStart(i), to = item.version.chunks[i].end;
  PackLocation at;
  std::vector<DeltaBase> bases;
  {
    auto txn = parts_.env->BeginRead();
    if (!txn.ok()) return txn.status();
    auto row = GetChunkRow(**txn, id);
    if (!row.ok()) return row.status();
    if (!*row || !IsRaw((*row)->location)) return Status::Ok();
    at = (*row)->location;
    // A base stays no delta (depth one).
    if ((*row)->dependents == 0 && !bases_.count(id)) {
      auto b = BasesFor(**txn, item.previous, from, to, id);
      if (!b.ok()) return b.status();
      bases = std::move(*b);
    }
  }
  std::string raw;
  CIUIC_RETURN_IF_ERROR(parts_.chunks->Read(id, &raw));
  std::vector<std::string> base_bytes(bases.size());
  uint64_t io = raw.size();
  for (size_t k = 0; k < bases.size(); ++k) {
    CIUIC_RETURN_IF_ERROR(parts_.chunks->Read(bases[k].id, &base_bytes[k]));
    io += base_bytes[k].size();
  }
  const std::string base = bases.empty() ? std::string() : LayOutBase(raw.size(), bases, base_bytes);
  Choice c = ChooseEncoding(raw, from, bases, base);
  throttle_.Account(io);
  if (c.encoding == Encoding::kRaw) {
    ++stats_->kept_raw;
    return Status::Ok();
  }
  if (!IsDelta(c.encoding)) bases.clear();
  auto loc = parts_.packs->AppendRecord(id, c.encoding, bases.empty() ? ChunkId() : bases[0].id, c.payload,
                                        uint32_t(raw.size()), PackLane::kBackground);
  if (!loc.ok()) return loc.status();
  throttle_.Account(c.payload.size());
  for (const DeltaBase& b : bases) ++bases_[b.id];
  planned_[id] = moves_.size();
  moves_.emplace_back(id, Move{at, *loc, std::move(bases)});
  return Status::Ok();
}

Status ReencodeJob::Run() {
  Status s;
  for (const Item& item : items_) {
    for (size_t i = 0; i < item.version.chunks.size() && s.ok(); ++i) s = EncodeChunk(item, i);
    if (!s.ok()) break;
  }
  if (s.code() == Status::Code::kNoSpace) {
    // A full disk: the raw records stay; the next trigger tries again.
    LogLine("re-encode: " + s.message() + "; chunks stay as they are");
    moves_.clear();
    planned_.clear();
    through_ = cursor_;
    more_ = false;
    return Status::Ok();
  }
  CIUIC_RETURN_IF_ERROR(s);
  std::set<uint32_t> written;
  for (auto& [id, move] : moves_) written.insert(move.to.pack);
  if (written.empty()) return Status::Ok();
  return parts_.NoteSyncResult(
      parts_.packs->SyncPacks(std::vector<uint32_t>(written.begin(), written.end()), &synced_));
}

Status ReencodeJob::Install() {
  if (through_ == cursor_ && moves_.empty()) return Status::Ok();
  CIUIC_RETURN_IF_ERROR(parts_.CanWrite());
  std::vector<PackLocation> punch;
  std::set<uint32_t> emptied;
  ReencodeStats added;
  CIUIC_RETURN_IF_ERROR(parts_.env->Write([&](Txn& txn) -> Status {
    punch.clear();
    emptied.clear();
    added = ReencodeStats{};
    std::map<uint32_t, PackDelta> joined;
    std::map<uint32_t, PackDelta> left;  // packs and extents (kExtentPackFlag | E)
    for (auto& [id, move] : moves_) {
      auto row = GetChunkRow(txn, id);
      if (!row.ok()) return row.status();
      if (!*row || !SamePlace((*row)->location, move.from)) continue;  // moved, lost or gone meanwhile
      ChunkRow r = **row;
      if (!move.bases.empty()) {
        if (r.dependents != 0) continue;  // became a base meanwhile (in this transaction)
        std::vector<std::pair<ChunkId, ChunkRow>> bases;
        bool usable = true;
        for (const DeltaBase& b : move.bases) {
          auto br = GetChunkRow(txn, b.id);
          if (!br.ok()) return br.status();
          usable = usable && *br && (*br)->location.pack != kLostPack &&
                   !IsDelta((*br)->location.encoding);
          if (!usable) break;
          bases.emplace_back(b.id, **br);
        }
        if (!usable) continue;
        for (auto& [bid, br] : bases) {
          br.refcount += 1;
          br.dependents += 1;
          CIUIC_RETURN_IF_ERROR(PutChunkRow(txn, bid, br));
        }
        r.bases = move.bases;
        ++added.deltas;
      }
      r.location = move.to;
      CIUIC_RETURN_IF_ERROR(PutChunkRow(txn, id, r));
      PackDelta& j = joined[move.to.pack];
      j.end = std::max(j.end, move.to.end());
      j.bytes += move.to.record_bytes();
      j.records += 1;
      PackDelta& l = left[move.from.pack];
      l.bytes += move.from.record_bytes();
      l.records += 1;
      if (move.from.in_extent()) punch.push_back(move.from);
      ++added.chunks;
      added.raw_bytes += move.to.raw_len;
      added.stored_bytes += move.to.record_bytes();
    }
    CIUIC_RETURN_IF_ERROR(UpdatePackRows(txn, std::move(joined), synced_));
    CIUIC_RETURN_IF_ERROR(TakeFromPackRows(txn, left, &emptied));
    if (through_ != cursor_) {
      std::string v;
      PutLE<uint64_t>(&v, through_);
      CIUIC_RETURN_IF_ERROR(txn.Put(Db::kMeta, kReencodedThroughKey, v));
    }
    CrashPoint("reencode.before_txn_commit");
    return Status::Ok();
  }));
  CIUIC_RETURN_IF_ERROR(parts_.NoteSyncResult(parts_.env->Sync()));
  CrashPoint("reencode.after_txn");
  stats_->snapshots += snapshots_;
  stats_->chunks += added.chunks;
  stats_->deltas += added.deltas;
  stats_->raw_bytes += added.raw_bytes;
  stats_->stored_bytes += added.stored_bytes;
  // The old ranges in extents hold no live bytes now (a kill before this
  // leaves them allocated: space, never bytes).
  for (const PackLocation& loc : punch) {
    if (emptied.count(loc.extent())) continue;
    Status s = parts_.extents->PunchOrDefer(loc.extent(), loc.offset, loc.stored_len);
    if (!s.ok() && !s.IsNotFound()) return s;
  }
  for (uint32_t e : emptied) {
    Status s = parts_.extents->Remove(e);
    if (!s.ok() && !s.IsNotFound()) return s;
  }
  return Status::Ok();
}

}  // namespace ciuicfs
