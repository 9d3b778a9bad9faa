#include "store/ingest/pin_table.h"

#include <algorithm>

#include "store/index/lmdb_env.h"
#include "store/index/queries.h"
#include "store/pack/pack_store.h"

namespace ciuicfs {

PinTable::PinTable(LmdbEnv* env, PackStore* packs, std::function<Status()> can_write)
    : env_(env), packs_(packs), can_write_(std::move(can_write)) {}

Result<uint64_t> PinTable::PinOrStore(const ChunkId& id, const uint8_t* data, size_t n) {
  CIUIC_RETURN_IF_ERROR(can_write_());
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pins_.find(id);
  if (it != pins_.end()) {
    ++it->second.count;
    return uint64_t{0};
  }
  {
    // Under mu_, so gc cannot delete the row between this look-up and the
    // pin below.
    auto txn = env_->BeginRead();
    if (!txn.ok()) return txn.status();
    auto row = GetChunkRow(**txn, id);
    if (!row.ok()) return row.status();
    if (*row && (*row)->location.pack != kLostPack) {
      pins_[id] = Pin{1, false, {}};
      return uint64_t{0};
    }
  }
  auto loc = packs_->Append(id, data, n);
  if (!loc.ok()) return loc.status();
  pins_[id] = Pin{1, true, *loc};
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
  {
    auto txn = env_->BeginRead();  // under mu_, as in PinOrStore
    if (!txn.ok()) return txn.status();
    auto row = GetChunkRow(**txn, id);
    if (!row.ok()) return row.status();
    if (*row && (*row)->location.pack != kLostPack) {
      pins_[id] = Pin{1, false, {}};
      return false;
    }
  }
  pins_[id] = Pin{1, true, in_place};
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
