#include "store/ingest/pin_table.h"

#include <algorithm>
#include <set>

#include "store/index/lmdb_env.h"
#include "store/index/queries.h"
#include "store/pack/pack_store.h"

namespace ciuicfs {

PinTable::PinTable(LmdbEnv* env, PackStore* packs, std::function<Status()> can_write)
    : env_(env), packs_(packs), can_write_(std::move(can_write)) {}

Result<bool> PinTable::IndexHas(const ChunkId& id, uint64_t* since) {
  auto txn = env_->BeginRead();
  if (!txn.ok()) return txn.status();
  auto row = GetChunkRow(**txn, id);
  if (!row.ok()) return row.status();
  const bool indexed = *row && (*row)->location.pack != kLostPack;
  if (!applied_in_) return indexed;
  // A fresh record's pin has a since too: its commit may index the chunk
  // and a prune release it while a save that shares the pin still holds it.
  auto applied = applied_in_(**txn);
  if (!applied.ok()) return applied.status();
  *since = *applied;
  return indexed && (*row)->refcount != 0;  // gc may hold an unreferenced one as a candidate: store it again
}

void PinTable::SetShared(std::function<Result<uint64_t>(Txn&)> applied_in) {
  std::lock_guard<std::mutex> lock(mu_);
  applied_in_ = std::move(applied_in);
}

uint64_t PinTable::OldestHold() {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t oldest = kNoSince;
  for (auto& [id, pin] : pins_) oldest = std::min(oldest, pin.since);
  return oldest;
}

std::vector<uint32_t> PinTable::PendingPacks() {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<uint32_t> packs;
  for (auto& [id, pin] : pins_)
    if (pin.pending) packs.insert(pin.location.pack);
  return {packs.begin(), packs.end()};
}

void PinTable::MarkAllStale() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, pin] : pins_) pin.stale = true;
}

void PinTable::MarkStaleIn(const std::set<uint32_t>& packs) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [id, pin] : pins_)
    if (pin.pending && packs.count(pin.location.pack)) pin.stale = true;
}

bool PinTable::AnyStale(const std::vector<ChunkId>& ids) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const ChunkId& id : ids) {
    auto it = pins_.find(id);
    if (it != pins_.end() && it->second.stale) return true;
  }
  return false;
}

Result<uint64_t> PinTable::PinOrStore(const ChunkId& id, const uint8_t* data, size_t n) {
  CIUIC_RETURN_IF_ERROR(can_write_());
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pins_.find(id);
  if (it != pins_.end()) {
    ++it->second.count;
    return uint64_t{0};
  }
  // Under mu_, so gc cannot delete the row between this look-up and the
  // pin below.
  uint64_t since = kNoSince;
  auto has = IndexHas(id, &since);
  if (!has.ok()) return has.status();
  if (*has) {
    pins_[id] = Pin{1, false, {}, since};
    return uint64_t{0};
  }
  auto loc = packs_->Append(id, data, n);
  if (!loc.ok()) return loc.status();
  pins_[id] = Pin{1, true, *loc, since};
  return loc->record_bytes();
}

Result<bool> PinTable::PinOrPlace(const ChunkId& id, const PackLocation& in_place) {
  CIUIC_RETURN_IF_ERROR(can_write_());
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pins_.find(id);
  if (it != pins_.end()) {
    ++it->second.count;
    return false;
  }
  uint64_t since = kNoSince;
  auto has = IndexHas(id, &since);  // under mu_, as in PinOrStore
  if (!has.ok()) return has.status();
  if (*has) {
    pins_[id] = Pin{1, false, {}, since};
    return false;
  }
  pins_[id] = Pin{1, true, in_place, since};
  return true;
}

void PinTable::Unpin(const std::vector<ChunkId>& ids) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const ChunkId& id : ids) {
    auto it = pins_.find(id);
    if (it != pins_.end() && --it->second.count == 0) pins_.erase(it);
  }
}

std::optional<PackLocation> PinTable::PendingLocation(const ChunkId& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pins_.find(id);
  if (it == pins_.end() || !it->second.pending) return std::nullopt;
  return it->second.location;
}

std::map<ChunkId, PackLocation> PinTable::PendingLocations(const std::vector<ChunkId>& ids) {
  std::map<ChunkId, PackLocation> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const ChunkId& id : ids) {
    auto it = pins_.find(id);
    if (it != pins_.end() && it->second.pending) out[id] = it->second.location;
  }
  return out;
}

void PinTable::MarkIndexed(const std::vector<ChunkId>& ids) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const ChunkId& id : ids) {
    auto it = pins_.find(id);
    if (it != pins_.end()) it->second.pending = false;
  }
}

uint32_t PinTable::FirstPendingPack() {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t first = UINT32_MAX;
  for (auto& [id, pin] : pins_)
    if (pin.pending) first = std::min(first, pin.location.pack);
  return first;
}

Status PinTable::LockForDelete(const std::function<Status(const std::function<bool(const ChunkId&)>&)>& fn) {
  std::lock_guard<std::mutex> lock(mu_);
  return fn([this](const ChunkId& id) { return pins_.count(id) != 0; });
}

}  // namespace ciuicfs
