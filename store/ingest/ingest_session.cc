#include "store/ingest/ingest_session.h"

#include <utility>

#include "store/ingest/pin_table.h"

namespace ciuicfs {

PendingVersion::PendingVersion(PendingVersion&& o) noexcept
    : table_(std::exchange(o.table_, nullptr)),
      manifest_(std::move(o.manifest_)),
      pins_(std::move(o.pins_)),
      placed_(std::move(o.placed_)),
      bytes_written_(o.bytes_written_) {}

PendingVersion& PendingVersion::operator=(PendingVersion&& o) noexcept {
  if (this != &o) {
    Release();
    table_ = std::exchange(o.table_, nullptr);
    manifest_ = std::move(o.manifest_);
    pins_ = std::move(o.pins_);
    placed_ = std::move(o.placed_);
    bytes_written_ = o.bytes_written_;
  }
  return *this;
}

PendingVersion::~PendingVersion() { Release(); }

void PendingVersion::Release() {
  if (table_ && !pins_.empty()) table_->Unpin(pins_);
  pins_.clear();
  table_ = nullptr;
}

IngestSession::IngestSession(const Chunker* chunker, PinTable* pins)
    : pins_(pins),
      chunker_(chunker,
               [this](const uint8_t* p, size_t n, std::shared_ptr<const void> keep) {
                 return OnChunk(p, n, std::move(keep));
               }),
      pending_(pins) {
  pins_->IngestStarted();
}

IngestSession::IngestSession(const Chunker* chunker, PinTable* pins, uint32_t extent) : IngestSession(chunker, pins) {
  in_extent_ = extent;
}

IngestSession::~IngestSession() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
    queue_.clear();  // abandoned: drop what was not stored yet
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  if (!finished_) pins_->IngestEnded();
  // pending_ releases any pins
}

Status IngestSession::Append(const void* data, size_t n) {
  if (finished_) return Status::InvalidArgument("append after finish");
  return chunker_.Append(data, n);
}

// Stage 1 -> stage 2. Small files finished in one go never start a thread.
Status IngestSession::OnChunk(const uint8_t* data, size_t n, std::shared_ptr<const void> keep) {
  if (!worker_.joinable()) {
    if (finished_) return StoreChunk(data, n);
    worker_ = std::thread([this] { WorkerLoop(); });
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return queued_bytes_ < kMaxQueuedBytes || !worker_status_.ok(); });
  if (!worker_status_.ok()) return worker_status_;
  queue_.push_back(Work{data, n, std::move(keep)});
  queued_bytes_ += n;
  cv_.notify_all();
  return Status::Ok();
}

void IngestSession::WorkerLoop() {
  for (;;) {
    Work w;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return !queue_.empty() || closing_; });
      if (queue_.empty()) return;
      w = std::move(queue_.front());
      queue_.pop_front();
    }
    Status s = StoreChunk(w.data, w.n);
    w.keep.reset();
    std::lock_guard<std::mutex> lock(mu_);
    queued_bytes_ -= w.n;
    if (!s.ok() && worker_status_.ok()) {
      worker_status_ = s;
      queue_.clear();
      queued_bytes_ = 0;
    }
    cv_.notify_all();
  }
}

Status IngestSession::StopWorker() {
  if (!worker_.joinable()) return Status::Ok();
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  worker_.join();
  std::lock_guard<std::mutex> lock(mu_);
  return worker_status_;
}

// Stage 2, in chunk order: content hash, dedup look-up, pack append.
Status IngestSession::StoreChunk(const uint8_t* data, size_t n) {
  hasher_.Update(data, n);
  ChunkId id = Hash128::Of(data, n);
  if (seen_.insert(id).second) {
    if (in_extent_ != 0) {
      const PackLocation here = PackLocation::InExtent(in_extent_, pending_.manifest_.size, uint32_t(n));
      auto placed = pins_->PinOrPlace(id, here);
      if (!placed.ok()) {
        seen_.erase(id);
        return placed.status();
      }
      if (*placed) pending_.placed_.emplace_back(id, here);
    } else {
      auto added = pins_->PinOrStore(id, data, n);
      if (!added.ok()) {
        seen_.erase(id);
        return added.status();
      }
      pending_.bytes_written_ += *added;
    }
    pending_.pins_.push_back(id);
  }
  pending_.manifest_.size += n;
  pending_.manifest_.chunks.push_back(ChunkRef{id, pending_.manifest_.size});
  return Status::Ok();
}

Result<PendingVersion> IngestSession::Finish() {
  if (finished_) return Status::InvalidArgument("finish called twice");
  finished_ = true;  // from here OnChunk stores inline unless a worker runs
  Status s = chunker_.Finish();
  Status w = StopWorker();
  pins_->IngestEnded();  // the save's bytes are all in; background work may speed up
  CIUIC_RETURN_IF_ERROR(w);
  CIUIC_RETURN_IF_ERROR(s);
  pending_.manifest_.id = hasher_.Digest();
  return std::move(pending_);
}

}  // namespace ciuicfs
