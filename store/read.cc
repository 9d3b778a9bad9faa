// The read path: chunk look-up (index, or pins for uncommitted versions),
// verified pack reads, and VersionReader's binary search to a chunk.
#include <algorithm>
#include <cstring>

#include "store/lmdb_env.h"
#include "store/log.h"
#include "store/pack.h"
#include "store/records.h"
#include "store/store.h"

namespace ciuicfs {

Status Store::ReadChunk(const ChunkId& id, std::string* out) {
  for (int attempt = 0;; ++attempt) {
    ChunkRow row;
    {
      // A chunk of an uncommitted version lives only in pins_.
      std::lock_guard<std::mutex> lock(pins_mu_);
      auto pin = pins_.find(id);
      if (pin != pins_.end() && pin->second.pending) row.location = pin->second.location;
    }
    if (row.location.pack == kLostPack) {
      auto txn = env_->BeginRead();
      if (!txn.ok()) return txn.status();
      auto v = (*txn)->Get(Db::kChunks, id.Bytes());
      if (!v.ok()) return v.status();
      if (!*v) return Status::Corruption("chunk " + id.Hex() + " is missing from the index");
      if (!DecodeChunkRow(**v, &row)) return Status::Corruption("index: undecodable row for chunk " + id.Hex());
    }
    if (row.location.pack == kLostPack) {
      Status lost = Status::Corruption("chunk " + id.Hex() + " was lost (its pack bytes never reached the disk)");
      LogLine(lost.message());
      return lost;
    }
    Status s = packs_->Read(id, row.location, out);
    // gc may have moved the chunk and removed its old pack between the
    // lookup and the read: look it up once more.
    if (s.IsNotFound() && attempt == 0) continue;
    if (!s.ok()) {
      if (s.IsNotFound()) s = Status::Corruption(s.message());
      LogLine(s.message());
    }
    return s;
  }
}

Result<std::unique_ptr<VersionReader>> Store::OpenVersion(const VersionId& id) {
  auto m = GetManifest(id);
  if (!m.ok()) return m.status();
  return std::unique_ptr<VersionReader>(new VersionReader(this, std::move(m.value())));
}

std::unique_ptr<VersionReader> Store::OpenPending(const PendingVersion& version) {
  return std::unique_ptr<VersionReader>(new VersionReader(this, version.manifest()));
}

Result<size_t> VersionReader::Read(uint64_t offset, size_t n, char* dst) {
  size_t done = 0;
  while (done < n && offset < manifest_.size) {
    size_t i = manifest_.ChunkAt(offset);
    if (i != cached_index_) {
      cached_index_ = SIZE_MAX;
      CIUIC_RETURN_IF_ERROR(store_->ReadChunk(manifest_.chunks[i].id, &cached_));
      if (cached_.size() != manifest_.chunks[i].end - manifest_.ChunkStart(i))
        return Status::Corruption("chunk " + manifest_.chunks[i].id.Hex() + " has the wrong length for version " +
                                  manifest_.id.Hex());
      cached_index_ = i;
    }
    uint64_t in_chunk = offset - manifest_.ChunkStart(i);
    size_t take = std::min<uint64_t>(n - done, cached_.size() - in_chunk);
    std::memcpy(dst + done, cached_.data() + in_chunk, take);
    done += take;
    offset += take;
  }
  return done;
}

}  // namespace ciuicfs
