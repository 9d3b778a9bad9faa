// Streaming ingest: bytes -> chunks -> pinned records in packs, and the
// PendingVersion that a commit turns into a visible file version.
#include <utility>

#include "store/lmdb_env.h"
#include "store/pack.h"
#include "store/records.h"
#include "store/store.h"

namespace ciuicfs {

PendingVersion::PendingVersion(PendingVersion&& o) noexcept
    : store_(std::exchange(o.store_, nullptr)),
      manifest_(std::move(o.manifest_)),
      pins_(std::move(o.pins_)),
      bytes_written_(o.bytes_written_) {}

PendingVersion& PendingVersion::operator=(PendingVersion&& o) noexcept {
  if (this != &o) {
    Release();
    store_ = std::exchange(o.store_, nullptr);
    manifest_ = std::move(o.manifest_);
    pins_ = std::move(o.pins_);
    bytes_written_ = o.bytes_written_;
  }
  return *this;
}

PendingVersion::~PendingVersion() { Release(); }

void PendingVersion::Release() {
  if (store_ && !pins_.empty()) store_->Unpin(pins_);
  pins_.clear();
  store_ = nullptr;
}

IngestSession::IngestSession(Store* store)
    : store_(store),
      chunker_(store->chunker_.get(), [this](const uint8_t* p, size_t n) { return OnChunk(p, n); }) {
  pending_.store_ = store;
}

IngestSession::~IngestSession() = default;  // pending_ releases any pins

Status IngestSession::Append(const void* data, size_t n) {
  if (finished_) return Status::InvalidArgument("append after finish");
  hasher_.Update(data, n);
  return chunker_.Append(data, n);
}

Status IngestSession::OnChunk(const uint8_t* data, size_t n) {
  ChunkId id = Hash128::Of(data, n);
  if (seen_.insert(id).second) {
    auto added = store_->PinOrStore(id, data, n);
    if (!added.ok()) {
      seen_.erase(id);
      return added.status();
    }
    pending_.pins_.push_back(id);
    pending_.bytes_written_ += *added;
  }
  pending_.manifest_.size += n;
  pending_.manifest_.chunks.push_back(ChunkRef{id, pending_.manifest_.size});
  return Status::Ok();
}

Result<PendingVersion> IngestSession::Finish() {
  if (finished_) return Status::InvalidArgument("finish called twice");
  finished_ = true;
  CIUIC_RETURN_IF_ERROR(chunker_.Finish());
  pending_.manifest_.id = hasher_.Digest();
  return std::move(pending_);
}

std::unique_ptr<IngestSession> Store::NewIngest() {
  return std::unique_ptr<IngestSession>(new IngestSession(this));
}

Result<uint64_t> Store::PinOrStore(const ChunkId& id, const uint8_t* data, size_t n) {
  std::lock_guard<std::mutex> lock(pins_mu_);
  auto it = pins_.find(id);
  if (it != pins_.end()) {
    ++it->second.count;
    return uint64_t{0};
  }
  {
    // Under pins_mu_, so gc cannot delete the row between this look-up and
    // the pin below.
    auto txn = env_->BeginRead();
    if (!txn.ok()) return txn.status();
    auto v = (*txn)->Get(Db::kChunks, id.Bytes());
    if (!v.ok()) return v.status();
    if (*v) {
      pins_[id] = Pin{1, false, {}};
      return uint64_t{0};
    }
  }
  auto loc = packs_->Append(id, data, n);
  if (!loc.ok()) return loc.status();
  pins_[id] = Pin{1, true, *loc};
  return kRecordHeaderSize + n;
}

void Store::Unpin(const std::vector<ChunkId>& ids) {
  std::lock_guard<std::mutex> lock(pins_mu_);
  for (const ChunkId& id : ids) {
    auto it = pins_.find(id);
    if (it != pins_.end() && --it->second.count == 0) pins_.erase(it);
  }
}

}  // namespace ciuicfs
