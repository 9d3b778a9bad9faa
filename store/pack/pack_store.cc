#include "store/pack/pack_store.h"

#include <sys/uio.h>

#include <algorithm>

#include "store/base/crash_point.h"
#include "store/encode/codec.h"

namespace ciuicfs {

PackStore::PackStore(PackBackend* backend, uint32_t next_pack, uint64_t target_size)
    : backend_(backend), target_size_(target_size), next_pack_(next_pack) {}

uint32_t PackStore::active_pack(PackLane lane) const {
  const Lane& l = lanes_[int(lane)];
  std::lock_guard<std::mutex> lock(l.mu);
  return l.active;
}

void PackStore::CloseLane(PackLane lane) {
  Lane& l = lanes_[int(lane)];
  std::lock_guard<std::mutex> lock(l.mu);
  l.active = 0;
}

void PackStore::NoteTaken(uint32_t pack) {
  std::lock_guard<std::mutex> lock(mu_);
  if (pack != 0 && !(pack & kExtentPackFlag)) next_pack_ = std::max(next_pack_, pack + 1);
}

uint32_t PackStore::next_pack() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_pack_;
}

Status PackStore::failed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_;
}

Status PackStore::OpenNewActive(PackLane which) {
  Lane& lane = lanes_[int(which)];
  uint32_t pack;
  for (int tries = 0;; ++tries) {  // another process sharing the store may have taken a number
    {
      std::lock_guard<std::mutex> lock(mu_);
      pack = next_pack_++;
    }
    Status created = backend_->Create(pack);
    if (created.ok()) break;
    if (!backend_->Size(pack).ok() || tries >= 1000) return created;  // taken: try the next number
  }
  uint8_t header[kPackHeaderSize];
  EncodePackHeader(pack, header);
  struct iovec iov = {header, sizeof(header)};
  CIUIC_RETURN_IF_ERROR(backend_->Append(pack, 0, &iov, 1));
  lane.active = pack;
  lane.end = kPackHeaderSize;
  std::lock_guard<std::mutex> lock(mu_);
  written_[pack] = Written{which, lane.end, 0};  // the object itself must reach the disk too
  return Status::Ok();
}

Result<PackLocation> PackStore::Append(const ChunkId& id, const uint8_t* data, size_t n, PackLane lane) {
  return AppendRecord(id, Encoding::kRaw, ChunkId(), std::string_view(reinterpret_cast<const char*>(data), n),
                      static_cast<uint32_t>(n), lane);
}

Result<PackLocation> PackStore::AppendRecord(const ChunkId& id, Encoding encoding, const ChunkId& base,
                                             std::string_view payload, uint32_t raw_len, PackLane lane) {
  const uint8_t* data = reinterpret_cast<const uint8_t*>(payload.data());
  const size_t n = payload.size();
  Lane& l = lanes_[int(lane)];
  std::lock_guard<std::mutex> lane_lock(l.mu);
  CIUIC_RETURN_IF_ERROR(failed());
  if (l.active == 0 || l.end >= target_size_) CIUIC_RETURN_IF_ERROR(OpenNewActive(lane));
  PackLocation loc{l.active, l.end, static_cast<uint32_t>(n), raw_len, encoding};
  uint8_t header[kRecordHeaderSize];
  EncodeRecordHeader(id, loc, header, base);
  struct iovec iov[2] = {{header, sizeof(header)}, {const_cast<uint8_t*>(data), n}};
  if (CrashPointArmed("pack.torn_record")) {
    iov[1].iov_len = n / 2;  // leave a torn record at the tail, then die
    (void)backend_->Append(loc.pack, loc.offset, iov, 2);
    CrashPoint("pack.torn_record");
  }
  Status s = backend_->Append(loc.pack, loc.offset, iov, 2);
  if (!s.ok()) {
    // Whatever a crash-like failure left stays past the indexed end and is
    // cut on the next open; new records must not land behind it.
    l.active = 0;
    return s;
  }
  l.end = loc.end();
  std::lock_guard<std::mutex> lock(mu_);
  written_[loc.pack].appended = l.end;
  return loc;
}

Status PackStore::Read(const ChunkId& id, const PackLocation& loc, std::string* out) {
  if (loc.in_extent()) {
    const std::string where = "chunk " + id.Hex() + " in extent " + std::to_string(loc.extent()) + " at offset " +
                              std::to_string(loc.offset);
    if (!extent_reader_) return Status::Corruption(where + ": no extent reader");
    out->resize(loc.raw_len);
    Status s = extent_reader_(loc.extent(), loc.offset, loc.raw_len, out->data());
    if (s.ok() && Hash128::Of(out->data(), out->size()) != id) s = Status::Corruption(where + ": content does not match its id");
    if (!s.ok()) out->clear();  // never hand out unverified bytes
    return s;
  }
  const std::string where = Where(id, loc);
  Status s;
  if (loc.encoding == Encoding::kRaw) {
    s = ReadStored(id, loc, out);
  } else {
    // The payload in scratch kept per thread, never freshly allocated: one
    // for deltas, one for the rest, since a delta's read of its base (never
    // a delta: depth one, checked below) nests inside it.
    thread_local std::string delta_scratch, other_scratch;
    std::string& payload = IsDelta(loc.encoding) ? delta_scratch : other_scratch;
    s = ReadStored(id, loc, &payload);
    if (s.ok()) {
      s = DecodePayload(loc.encoding, payload, loc.raw_len, [&](const ChunkId& base) -> Result<BaseCache::Bytes> {
        if (!base_locator_) return Status::Corruption(where + ": no base locator");
        auto at = base_locator_(base);
        if (!at.ok()) return at.status();
        // Depth one: a delta's base is never a delta (FORMAT.md).
        if (IsDelta(at->encoding))
          return Status::Corruption(where + ": its base " + base.Hex() + " is itself a delta");
        // Neighbouring deltas share bases: verified bytes of the last few
        // are kept (a chunk's bytes never change under its id).
        return bases_.Get(base, [&]() -> Result<BaseCache::Bytes> {
          auto bytes = std::make_shared<std::string>();
          CIUIC_RETURN_IF_ERROR(Read(base, *at, bytes.get()));
          return BaseCache::Bytes(std::move(bytes));
        });
      }, out);
      if (s.IsCorruption()) s = Status::Corruption(where + ": " + s.message());
    }
  }
  if (s.ok() && Hash128::Of(out->data(), out->size()) != id) s = Status::Corruption(where + ": content does not match its id");
  if (!s.ok()) out->clear();  // never hand out unverified bytes
  return s;
}

std::string PackStore::Where(const ChunkId& id, const PackLocation& loc) const {
  return "chunk " + id.Hex() + " in " + backend_->Name(loc.pack) + " at offset " + std::to_string(loc.offset);
}

Status PackStore::ReadStored(const ChunkId& id, const PackLocation& loc, std::string* payload) {
  const std::string where = Where(id, loc);
  if (loc.in_extent()) return Status::Corruption(where + ": a chunk in an extent has no record");
  uint8_t header[kRecordHeaderSize];
  CIUIC_RETURN_IF_ERROR(backend_->ReadAt(loc.pack, loc.offset, header, sizeof(header)));
  ScannedRecord rec;
  if (!DecodeRecordHeader(header, loc.pack, loc.offset, &rec)) return Status::Corruption(where + ": bad record header");
  if (rec.id != id || rec.location.stored_len != loc.stored_len || rec.location.raw_len != loc.raw_len ||
      rec.location.encoding != loc.encoding)
    return Status::Corruption(where + ": record header does not match the index");
  if (loc.encoding == Encoding::kRaw && loc.stored_len != loc.raw_len)
    return Status::Corruption(where + ": a raw record's stored and raw lengths differ");
  payload->resize(loc.stored_len);
  Status s = backend_->ReadAt(loc.pack, loc.offset + kRecordHeaderSize, payload->data(), loc.stored_len);
  if (!s.ok()) payload->clear();
  return s;
}

Status PackStore::SyncLane(PackLane lane, std::map<uint32_t, uint64_t>* synced_ends) {
  std::vector<uint32_t> packs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [pack, w] : written_)
      if (w.lane == lane && w.durable < w.appended) packs.push_back(pack);
  }
  return SyncPacks(packs, synced_ends);
}

Status PackStore::SyncAll(std::map<uint32_t, uint64_t>* synced_ends) {
  CIUIC_RETURN_IF_ERROR(SyncLane(PackLane::kIngest, synced_ends));
  return SyncLane(PackLane::kBackground, synced_ends);
}

Status PackStore::SyncPacks(const std::vector<uint32_t>& packs, std::map<uint32_t, uint64_t>* synced_ends) {
  std::vector<uint32_t> todo, foreign;
  {
    std::lock_guard<std::mutex> lock(mu_);
    CIUIC_RETURN_IF_ERROR(failed_);
    for (uint32_t pack : packs) {
      auto it = written_.find(pack);
      if (it == written_.end()) {
        foreign.push_back(pack);  // written by another process, or before this open
        continue;
      }
      if (it->second.durable < it->second.appended) todo.push_back(pack);
      else if (synced_ends) (*synced_ends)[pack] = it->second.durable;
    }
  }
  for (uint32_t pack : foreign) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (failed_foreign_.count(pack))
        return Status::IOError("a sync of " + backend_->Name(pack) + " failed before: its bytes cannot be claimed durable");
    }
    auto durable = backend_->Sync(pack);
    if (!durable.ok()) {
      if (durable.status().IsNotFound()) continue;  // removed meanwhile (gc)
      if (backend_->AppendsAreDurable()) return durable.status();  // lost nothing: a later sync may succeed
      // Final for that pack (no later sync may claim its bytes durable); this
      // process's own packs and saves go on.
      std::lock_guard<std::mutex> lock(mu_);
      failed_foreign_.insert(pack);
      return durable.status();
    }
    if (synced_ends) (*synced_ends)[pack] = std::max((*synced_ends)[pack], *durable);
  }
  for (uint32_t pack : todo) {
    // Where appends are durable, what this process appended is durable: no
    // round trip (and no way for an unreachable cluster to fail it).
    Result<uint64_t> durable = uint64_t(0);
    if (backend_->AppendsAreDurable()) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = written_.find(pack);
      if (it != written_.end()) durable = it->second.appended;
    } else {
      durable = backend_->Sync(pack);
    }
    std::unique_lock<std::mutex> lock(mu_);
    auto it = written_.find(pack);
    if (it == written_.end()) continue;  // removed meanwhile (gc): nothing left to make durable
    if (!durable.ok()) {
      // Final: no retry may later claim these bytes durable.
      failed_ = durable.status();
      lock.unlock();
      CloseLane(PackLane::kIngest);
      CloseLane(PackLane::kBackground);
      if (synced_ends) synced_ends->clear();
      return durable.status();
    }
    it->second.durable = std::max(it->second.durable, *durable);
    if (synced_ends) (*synced_ends)[pack] = it->second.durable;
  }
  return Status::Ok();
}

Status PackStore::Scan(uint32_t pack, uint64_t from, uint64_t to, bool verify_payload,
                       std::vector<ScannedRecord>* records, uint64_t* valid_end) {
  if (from < kPackHeaderSize) {
    uint8_t header[kPackHeaderSize];
    *valid_end = 0;
    if (to < kPackHeaderSize || !backend_->ReadAt(pack, 0, header, sizeof(header)).ok() || !IsPackHeader(header))
      return Status::Ok();
    from = kPackHeaderSize;
  }
  *valid_end = from;
  std::string payload;
  for (uint64_t off = from; off + kRecordHeaderSize <= to;) {
    uint8_t header[kRecordHeaderSize];
    if (!backend_->ReadAt(pack, off, header, sizeof(header)).ok()) break;
    ScannedRecord rec;
    if (!DecodeRecordHeader(header, pack, off, &rec) || rec.location.end() > to) break;
    if (verify_payload && Read(rec.id, rec.location, &payload).IsCorruption()) break;
    if (records) records->push_back(rec);
    off = rec.location.end();
    *valid_end = off;
  }
  return Status::Ok();
}

Status PackStore::Remove(uint32_t pack) {
  for (Lane& l : lanes_) {
    std::lock_guard<std::mutex> lock(l.mu);
    if (l.active == pack) l.active = 0;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    written_.erase(pack);
  }
  return backend_->Remove(pack);
}

}  // namespace ciuicfs
