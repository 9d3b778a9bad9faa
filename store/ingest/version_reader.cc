#include "store/ingest/version_reader.h"
#include "store/extent/extent_store.h"

#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cstring>
#include <utility>

#include "store/base/log.h"
#include "store/index/queries.h"
#include "store/ingest/pin_table.h"
#include "store/pack/pack_store.h"

namespace ciuicfs {

Status ChunkReader::Read(const ChunkId& id, std::string* out) {
  PackLocation tried;
  Status first;
  for (int attempt = 0;; ++attempt) {
    ChunkRow row;
    // A chunk of an uncommitted version lives only in the pin table.
    if (auto pending = pins_->PendingLocation(id)) row.location = *pending;
    if (row.location.pack == kLostPack) {
      auto txn = env_->BeginRead();
      if (!txn.ok()) return txn.status();
      auto found = GetChunkRow(**txn, id);
      if (!found.ok()) return found.status();
      if (!*found) return Status::Corruption("chunk " + id.Hex() + " is missing from the index");
      row = **found;
    }
    if (row.location.pack == kLostPack) {
      Status lost = Status::Corruption("chunk " + id.Hex() + " was lost (its pack bytes never reached the disk)");
      LogLine(lost.message());
      return lost;
    }
    // The second look found the chunk where the first failed: that error.
    if (attempt == 1 && first.IsCorruption() && row.location.pack == tried.pack &&
        row.location.offset == tried.offset && row.location.encoding == tried.encoding) {
      LogLine(first.message());
      return first;
    }
    Status s = packs_->Read(id, row.location, out);
    // gc or re-encoding may have moved the chunk, and removed or punched
    // its old place, between the lookup and the read: look it up once more.
    if ((s.IsNotFound() || s.IsCorruption()) && attempt == 0) {
      tried = row.location;
      first = s;
      continue;
    }
    if (!s.ok()) {
      if (s.IsNotFound()) s = Status::Corruption(s.message());
      LogLine(s.message());
    }
    return s;
  }
}

VersionReader::VersionReader(std::shared_ptr<ExtentFd> extent, Manifest m)
    : extent_(std::move(extent)), manifest_(std::move(m)) {}

std::future<ChunkReader::Fetched> ChunkReader::ReadLater(const ChunkId& id) {
  return ahead_.Submit([this, id] {
    Fetched f;
    {
      std::lock_guard<std::mutex> lock(spare_mu_);
      if (!spare_.empty()) {
        f.bytes = std::move(spare_.back());
        spare_.pop_back();
      }
    }
    f.status = Read(id, &f.bytes);
    if (!f.status.ok()) f.bytes.clear();  // a reused buffer's old bytes, never handed out
    return f;
  });
}

void ChunkReader::GiveBack(std::string bytes) {
  if (bytes.capacity() == 0) return;
  std::lock_guard<std::mutex> lock(spare_mu_);
  if (spare_.size() < kSpare) spare_.push_back(std::move(bytes));
}

VersionReader::~VersionReader() {
  for (auto& [i, f] : ahead_) f.wait();
}

Status VersionReader::LoadChunk(size_t i) {
  const bool sequential = cached_index_ != SIZE_MAX && i == cached_index_ + 1;
  cached_index_ = SIZE_MAX;
  // Reads ahead that this one skipped, or all of them for a jump back.
  while (!ahead_.empty() && ahead_.front().first != i) {
    if (ahead_.front().first > i) {
      ahead_.clear();
      break;
    }
    ahead_.pop_front();
  }
  if (!ahead_.empty()) {
    ChunkReader::Fetched f = ahead_.front().second.get();
    ahead_.pop_front();
    CIUIC_RETURN_IF_ERROR(f.status);
    chunks_->GiveBack(std::exchange(cached_, std::move(f.bytes)));
  } else {
    CIUIC_RETURN_IF_ERROR(chunks_->Read(manifest_.chunks[i].id, &cached_));
  }
  if (cached_.size() != manifest_.chunks[i].end - manifest_.ChunkStart(i))
    return Status::Corruption("chunk " + manifest_.chunks[i].id.Hex() + " has the wrong length for version " +
                              manifest_.id.Hex());
  cached_index_ = i;
  if (sequential || !ahead_.empty()) ReadAhead(i);
  return Status::Ok();
}

void VersionReader::ReadAhead(size_t after) {
  size_t next = ahead_.empty() ? after + 1 : ahead_.back().first + 1;
  uint64_t bytes = 0;
  for (const auto& [i, f] : ahead_) bytes += manifest_.chunks[i].end - manifest_.ChunkStart(i);
  while (next < manifest_.chunks.size() && ahead_.size() < kAheadChunks && bytes < kAheadBytes) {
    bytes += manifest_.chunks[next].end - manifest_.ChunkStart(next);
    ahead_.emplace_back(next, chunks_->ReadLater(manifest_.chunks[next].id));
    ++next;
  }
}

Result<size_t> VersionReader::ReadExtent(uint64_t offset, size_t n, char* dst) {
  if (offset >= manifest_.size) return size_t{0};
  n = static_cast<size_t>(std::min<uint64_t>(n, manifest_.size - offset));
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(extent_->get(), dst + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno(errno, "read extent of version " + manifest_.id.Hex());
    }
    if (r == 0)
      return Status::Corruption("the extent of version " + manifest_.id.Hex() + " is shorter than the version (lost)");
    done += static_cast<size_t>(r);
  }
  return done;
}

Result<size_t> VersionReader::Read(uint64_t offset, size_t n, char* dst) {
  if (extent_) return ReadExtent(offset, n, dst);
  size_t done = 0;
  while (done < n && offset < manifest_.size) {
    size_t i = manifest_.ChunkAt(offset);
    if (i != cached_index_) CIUIC_RETURN_IF_ERROR(LoadChunk(i));
    uint64_t in_chunk = offset - manifest_.ChunkStart(i);
    size_t take = std::min<uint64_t>(n - done, cached_.size() - in_chunk);
    std::memcpy(dst + done, cached_.data() + in_chunk, take);
    done += take;
    offset += take;
  }
  return done;
}

}  // namespace ciuicfs
