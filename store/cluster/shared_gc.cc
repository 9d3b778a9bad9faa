#include "store/cluster/shared_gc.h"

#include <cinttypes>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include "store/base/coding.h"
#include "store/base/log.h"
#include "store/index/queries.h"
#include "store/pack/format.h"
#include "store/parts.h"

namespace ciuicfs {
namespace {

// Chunk ids per collect object: 16 bytes each, so one object stays far
// below RADOS's largest single write.
constexpr size_t kChunksPerCollect = 1 << 20;

std::string Seconds(std::chrono::milliseconds d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + " s";
}

// One read transaction: the commit the index has applied, into *applied,
// and what `read` takes from the index as of that commit.
template <typename Fn>
Status ReadAtApplied(LmdbEnv* env, uint64_t* applied, Fn&& read) {
  return WithRead(env, [&](Txn& txn) -> Status {
    auto at = ClusterChain::AppliedIn(txn);
    if (!at.ok()) return at.status();
    *applied = *at;
    return read(txn);
  });
}

}  // namespace

Result<std::vector<Lease>> SharedGc::AwaitLeases(const std::function<bool(const Lease&)>& ok,
                                                 const std::function<std::string(const Lease&)>& why,
                                                 const GcOptions& options) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const LeaseTiming& timing = chain_->lease_timing();
  struct Seen {
    uint64_t renewal = 0;
    Clock::time_point since;  // when this renewal was first seen
  };
  std::map<uint64_t, Seen> seen;
  const auto pause = std::max(std::chrono::milliseconds(20), std::min(timing.renew / 10, std::chrono::milliseconds(200)));
  for (;;) {
    auto own = chain_->OwnLease();
    if (!own.ok()) return own.status();
    std::vector<Lease> live{*own};
    std::string blocker = ok(*own) ? std::string() : own->Who() + " (this one) " + why(*own);
    auto table = chain_->leases()->List();
    if (!table.ok()) return table.status();
    const auto now = Clock::now();
    for (auto& [node, bytes] : *table) {
      if (node == own->node) continue;
      Lease l;
      if (!DecodeLease(bytes, &l) || l.node != node)
        return Status::Corruption(chain_->leases()->Name() + ": the lease of node " + Hex16(node) +
                                  " is damaged (it does not decode or fails its checksum); if that node is gone, "
                                  "remove it: " + chain_->leases()->RemoveCommand(node));
      auto [it, fresh] = seen.try_emplace(node, Seen{l.renewal, now});
      if (!fresh && it->second.renewal != l.renewal) it->second = Seen{l.renewal, now};
      // The longer of the two graces: a node stops itself after half of its own.
      const auto grace = std::max(timing.grace, std::chrono::milliseconds(l.grace_ms));
      if (now - it->second.since >= grace) {
        LogLine("gc: " + l.Who() + " has not renewed its lease for " + Seconds(grace) +
                "; taking it for dead and removing its lease");
        CIUIC_RETURN_IF_ERROR(chain_->leases()->Remove(node));
        seen.erase(it);
        continue;
      }
      live.push_back(l);
      if (blocker.empty() && !ok(l)) blocker = l.Who() + " " + why(l);
    }
    if (blocker.empty()) return live;
    if (now - start >= options.wait) return Status::Busy("gc: " + blocker + "; gave up after " + Seconds(options.wait));
    std::this_thread::sleep_for(pause);
  }
}

Status SharedGc::ScanNamedAgain(uint64_t through) {
  for (uint64_t n = scanned_through_ + 1; n <= through; ++n) {
    auto obj = chain_->ReadObject(n);
    if (!obj.ok()) return obj.status();
    for (const Manifest& m : obj->carried.manifests)
      for (const ChunkRef& c : m.chunks) named_again_.insert(c.id);
    scanned_through_ = n;
  }
  return Status::Ok();
}

Result<GcStats> SharedGc::Run(const GcOptions& options) {
  CIUIC_RETURN_IF_ERROR(parts_->CanWrite());
  GcStats stats;
  stats.bytes_before = StoredPackBytes(*parts_);
  CIUIC_RETURN_IF_ERROR(chain_->CatchUp());
  // 1. Candidates at G.
  uint64_t g = 0;
  std::vector<ChunkId> candidates;
  CIUIC_RETURN_IF_ERROR(ReadAtApplied(parts_->env, &g, [&](Txn& txn) -> Status {
    auto found = UnreferencedChunksInTxn(txn);
    if (!found.ok()) return found.status();
    candidates = std::move(found.value());
    return Status::Ok();
  }));
  if (!candidates.empty()) {
    // 2. No save anywhere holds a chunk it took before G.
    auto waited = AwaitLeases(
        [g](const Lease& l) { return l.applied >= g && l.holds_from >= g; },
        [g](const Lease& l) {
          if (l.applied < g)
            return "has applied commit " + std::to_string(l.applied) + " only (gc waits for it to reach " +
                   std::to_string(g) + ")";
          return "has a save in progress holding chunks since commit " + std::to_string(l.holds_from) +
                 " (run gc again once that save is done)";
        },
        options);
    if (!waited.ok()) return waited.status();
    // 3. The sweep, in objects of at most kChunksPerCollect: what is still
    // unreferenced and was not named again since G. The commits since G
    // are read outside the write transaction; inside it, only the few that
    // came meanwhile.
    scanned_through_ = g;
    named_again_.clear();
    for (size_t from = 0; from < candidates.size(); from += kChunksPerCollect) {
      const size_t to = std::min(candidates.size(), from + kChunksPerCollect);
      auto applied = chain_->Applied();
      if (!applied.ok()) return applied.status();
      CIUIC_RETURN_IF_ERROR(ScanNamedAgain(*applied));
      uint64_t deleted = 0, unused = 0;
      CIUIC_RETURN_IF_ERROR(chain_->PublishCollect(
          [&](Txn& txn, uint64_t number) -> Result<CollectChange> {
            CIUIC_RETURN_IF_ERROR(ScanNamedAgain(number - 1));
            CollectChange change;
            change.checked_at = g;
            for (size_t i = from; i < to; ++i) {
              const ChunkId& id = candidates[i];
              if (named_again_.count(id)) continue;
              auto row = GetChunkRow(txn, id);
              if (!row.ok()) return row.status();
              if (*row && (*row)->refcount == 0) change.chunks.push_back(id);
            }
            return change;
          },
          &deleted, &unused));
      stats.chunks_deleted += deleted;
    }
  }
  // 4. The packs left without a live record, as of S1 (now); none in use
  // by a node that has applied S1 (what it has in use then is all it will
  // ever append to among the packs the index knows).
  uint64_t s1 = 0;
  std::set<uint32_t> empty;
  CIUIC_RETURN_IF_ERROR(ReadAtApplied(parts_->env, &s1, [&](Txn& txn) -> Status {
    auto rows = LoadPackRows(txn);
    if (!rows.ok()) return rows.status();
    for (auto& [pack, row] : *rows)
      if (row.live_records == 0) empty.insert(pack);
    return Status::Ok();
  }));
  if (!empty.empty()) {
    auto live = AwaitLeases([s1](const Lease& l) { return l.applied >= s1; },
                            [s1](const Lease& l) {
                              return "has applied commit " + std::to_string(l.applied) +
                                     " only (gc waits for it to reach " + std::to_string(s1) + ")";
                            },
                            options);
    if (!live.ok()) return live.status();
    for (const Lease& l : *live)
      for (uint32_t p : l.packs_in_use) empty.erase(p);
  }
  // 5. Their rows go on every node (those still empty), then their bytes.
  std::vector<uint32_t> emptied;
  if (!empty.empty()) {
    uint64_t unused = 0;
    CIUIC_RETURN_IF_ERROR(chain_->PublishCollect(
        [&](Txn& txn, uint64_t) -> Result<CollectChange> {
          CollectChange change;
          change.checked_at = s1;
          for (uint32_t pack : empty) {
            auto row = GetPackRow(txn, pack);
            if (!row.ok()) return row.status();
            if (*row && (*row)->live_records == 0) change.packs.push_back(pack);
          }
          emptied = change.packs;
          return change;
        },
        &unused, &stats.packs_deleted));
  }
  for (uint32_t pack : emptied) {
    // Cut, not removed: the object keeps its number taken. A failure
    // leaves its bytes unlisted (a leak, FORMAT.md), and gc goes on.
    Status s = parts_->packs->Truncate(pack, kPackHeaderSize);
    if (!s.ok()) LogLine("gc: cutting " + parts_->packs->Name(pack) + " to its header: " + s.message());
  }
  stats.bytes_after = StoredPackBytes(*parts_);
  return stats;
}

}  // namespace ciuicfs
