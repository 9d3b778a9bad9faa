#include "store/cluster/shared_gc.h"

#include <map>
#include <set>
#include <thread>

#include "store/base/log.h"
#include "store/index/queries.h"
#include "store/pack/format.h"
#include "store/parts.h"

namespace ciuicfs {

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
        return Status::Corruption(chain_->leases()->Name() + ": the lease of node " + std::to_string(node) +
                                  " is damaged (it does not decode or fails its checksum)");
      auto [it, fresh] = seen.try_emplace(node, Seen{l.renewal, now});
      if (!fresh && it->second.renewal != l.renewal) it->second = Seen{l.renewal, now};
      if (now - it->second.since >= timing.grace) {
        // Not renewed for the grace period while watched: a dead node's.
        LogLine("gc: " + l.Who() + " has not renewed its lease for " +
                std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timing.grace).count()) +
                " s; taking it for dead and removing its lease");
        CIUIC_RETURN_IF_ERROR(chain_->leases()->Remove(node));
        seen.erase(it);
        continue;
      }
      live.push_back(l);
      if (blocker.empty() && !ok(l)) blocker = l.Who() + " " + why(l);
    }
    if (blocker.empty()) return live;
    if (now - start >= options.wait)
      return Status::Busy("gc: " + blocker + "; gave up after " +
                          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(options.wait).count()) +
                          " s (run it again once that save is done)");
    std::this_thread::sleep_for(pause);
  }
}

Result<GcStats> SharedGc::Run(const GcOptions& options) {
  CIUIC_RETURN_IF_ERROR(parts_->CanWrite());
  GcStats stats;
  stats.bytes_before = StoredPackBytes(*parts_);
  CIUIC_RETURN_IF_ERROR(chain_->CatchUp());
  // 1. Candidates at G.
  uint64_t g = 0;
  std::vector<ChunkId> candidates;
  CIUIC_RETURN_IF_ERROR(WithRead(parts_->env, [&](Txn& txn) -> Status {
    auto at = ClusterChain::AppliedIn(txn);
    if (!at.ok()) return at.status();
    g = *at;
    auto found = UnreferencedChunksInTxn(txn);
    if (!found.ok()) return found.status();
    candidates = std::move(found.value());
    return Status::Ok();
  }));
  if (!candidates.empty()) {
    // 2. No save anywhere holds a chunk it took from an index before G.
    auto waited = AwaitLeases(
        [g](const Lease& l) { return l.applied >= g && l.holds_from >= g; },
        [g](const Lease& l) {
          if (l.applied < g)
            return "has applied commit " + std::to_string(l.applied) + " only (gc waits for " + std::to_string(g) + ")";
          return "has a save in progress holding chunks since commit " + std::to_string(l.holds_from);
        },
        options);
    if (!waited.ok()) return waited.status();
    // 3. The sweep: what is still unreferenced and was not named again since G.
    uint64_t packs = 0;
    CIUIC_RETURN_IF_ERROR(chain_->PublishCollect(
        [&](Txn& txn, uint64_t number) -> Result<CollectChange> {
          std::set<ChunkId> named_again;
          for (uint64_t n = g + 1; n < number; ++n) {
            auto obj = chain_->ReadObject(n);
            if (!obj.ok()) return obj.status();
            for (const Manifest& m : obj->carried.manifests)
              for (const ChunkRef& c : m.chunks) named_again.insert(c.id);
          }
          CollectChange change;
          change.checked_at = g;
          for (const ChunkId& id : candidates) {
            if (named_again.count(id)) continue;
            auto row = GetChunkRow(txn, id);
            if (!row.ok()) return row.status();
            if (*row && (*row)->refcount == 0) change.chunks.push_back(id);
          }
          return change;
        },
        &stats.chunks_deleted, &packs));
  }
  // 4. Every live node applied the sweep: what it has in use now is all
  // it will ever append to among the packs the index knows.
  auto s1 = chain_->Applied();
  if (!s1.ok()) return s1.status();
  auto live = AwaitLeases([n = *s1](const Lease& l) { return l.applied >= n; },
                          [n = *s1](const Lease& l) {
                            return "has applied commit " + std::to_string(l.applied) + " only (gc waits for " +
                                   std::to_string(n) + ")";
                          },
                          options);
  if (!live.ok()) return live.status();
  std::set<uint32_t> in_use;
  for (const Lease& l : *live) in_use.insert(l.packs_in_use.begin(), l.packs_in_use.end());
  // 5. The packs left empty: their rows go on every node, then their bytes.
  auto empty_packs = [&](Txn& txn) -> Result<std::vector<uint32_t>> {
    auto rows = LoadPackRows(txn);
    if (!rows.ok()) return rows.status();
    std::vector<uint32_t> out;
    for (auto& [pack, row] : *rows)
      if (row.live_records == 0 && !in_use.count(pack)) out.push_back(pack);
    return out;
  };
  auto any = WithRead(parts_->env, empty_packs);
  if (!any.ok()) return any.status();
  std::vector<uint32_t> emptied;
  uint64_t unused = 0;
  if (!any->empty())
    CIUIC_RETURN_IF_ERROR(chain_->PublishCollect(
        [&](Txn& txn, uint64_t) -> Result<CollectChange> {
          auto packs = empty_packs(txn);
          if (!packs.ok()) return packs.status();
          CollectChange change;
          change.checked_at = *s1;
          change.packs = emptied = std::move(packs.value());
          return change;
        },
        &unused, &stats.packs_deleted));
  for (uint32_t pack : emptied) {
    // Cut, not removed: the object keeps its number taken.
    Status s = parts_->packs->Truncate(pack, kPackHeaderSize);
    if (!s.ok()) return s;
  }
  stats.bytes_after = StoredPackBytes(*parts_);
  return stats;
}

}  // namespace ciuicfs
