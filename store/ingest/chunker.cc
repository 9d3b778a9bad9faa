#include "store/ingest/chunker.h"

#include <array>
#include <bit>
#include <cstring>
#include <mutex>
#include <vector>

namespace ciuicfs {
namespace {

constexpr uint64_t kGearSeed = 0x6369756963667331ULL;  // "ciuicfs1"

constexpr std::array<uint64_t, 256> MakeGearTable() {
  std::array<uint64_t, 256> table{};
  uint64_t state = kGearSeed;
  for (auto& entry : table) {  // splitmix64
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    entry = z ^ (z >> 31);
  }
  return table;
}

constexpr std::array<uint64_t, 256> kGear = MakeGearTable();

constexpr uint64_t TopBits(int k) { return k <= 0 ? 0 : ~uint64_t{0} << (64 - k); }

}  // namespace

Status ChunkerParams::Validate() const {
  if (avg_size < 256 || !std::has_single_bit(avg_size))
    return Status::InvalidArgument("chunker: average size must be a power of two >= 256");
  if (min_size < 64 || min_size >= avg_size || avg_size >= max_size)
    return Status::InvalidArgument("chunker: need 64 <= min < avg < max");
  if (max_size > 64u << 20) return Status::InvalidArgument("chunker: max size above 64 MiB");
  return Status::Ok();
}

Chunker::Chunker(const ChunkerParams& params) : params_(params) {
  int bits = std::countr_zero(params.avg_size);
  mask_small_ = TopBits(bits + 2);
  mask_large_ = TopBits(bits - 2);
}

size_t Chunker::NextBoundary(const uint8_t* data, size_t n) const {
  const size_t limit = n < params_.max_size ? n : params_.max_size;
  if (limit <= params_.min_size) return limit;
  const size_t normal = limit < params_.avg_size ? limit : params_.avg_size;
  uint64_t h = 0;
  size_t i = params_.min_size;
  for (; i < normal; ++i) {
    h = (h << 1) + kGear[data[i]];
    if ((h & mask_small_) == 0) return i + 1;
  }
  for (; i < limit; ++i) {
    h = (h << 1) + kGear[data[i]];
    if ((h & mask_large_) == 0) return i + 1;
  }
  return limit;
}

// Buffers are recycled through a pool so that a steady stream does not
// fault in fresh pages for every block; the pool's mutex orders a
// consumer's last read of a block before the block's reuse.
struct StreamChunker::BlockPool {
  std::mutex mu;
  std::vector<uint8_t*> free;
  size_t size;
  explicit BlockPool(size_t s) : size(s) {}
  ~BlockPool() {
    for (uint8_t* b : free) delete[] b;
  }
};

StreamChunker::StreamChunker(const Chunker* chunker, Sink sink)
    : chunker_(chunker),
      sink_(std::move(sink)),
      cap_(4 * size_t{chunker->params().max_size}),
      pool_(std::make_shared<BlockPool>(cap_)) {}

StreamChunker::~StreamChunker() = default;

Status StreamChunker::NextBlock() {
  uint8_t* raw = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool_->mu);
    if (!pool_->free.empty()) {
      raw = pool_->free.back();
      pool_->free.pop_back();
    }
  }
  if (!raw) raw = new uint8_t[cap_];
  std::shared_ptr<uint8_t> next(raw, [pool = pool_](uint8_t* b) {
    std::lock_guard<std::mutex> lock(pool->mu);
    if (pool->free.size() < 16) pool->free.push_back(b);
    else delete[] b;
  });
  // Carry the unfinished tail (< max bytes) over to the new block.
  if (block_ && end_ > start_) std::memcpy(next.get(), block_.get() + start_, end_ - start_);
  end_ -= start_;
  start_ = 0;
  block_ = std::move(next);
  return Status::Ok();
}

Status StreamChunker::Drain(bool last) {
  const size_t max = chunker_->params().max_size;
  while (end_ > start_ && (last || end_ - start_ >= max)) {
    size_t len = chunker_->NextBoundary(block_.get() + start_, end_ - start_);
    CIUIC_RETURN_IF_ERROR(sink_(block_.get() + start_, len, block_));
    start_ += len;
  }
  return Status::Ok();
}

Status StreamChunker::Append(const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    if (!block_ || end_ == cap_) CIUIC_RETURN_IF_ERROR(NextBlock());
    size_t take = cap_ - end_ < n ? cap_ - end_ : n;
    std::memcpy(block_.get() + end_, p, take);
    end_ += take;
    p += take;
    n -= take;
    CIUIC_RETURN_IF_ERROR(Drain(false));  // leaves < max bytes, so a full block has start_ > 0
  }
  return Status::Ok();
}

Status StreamChunker::Finish() { return Drain(true); }

}  // namespace ciuicfs
