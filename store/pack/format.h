// The bytes of a pack (FORMAT.md, "Pack file"): the 16-byte pack header and
// the 64-byte self-describing header in front of every chunk record, and
// where a record lives. Pure functions; thread-safe.
#ifndef CIUICFS_STORE_PACK_FORMAT_H_
#define CIUICFS_STORE_PACK_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "store/base/chunk_id.h"

namespace ciuicfs {

// kInExtent: raw bytes left in place in an extent, with no record header
// (a chunk row only; never in a pack; FORMAT.md, "Extents").
enum class Encoding : uint8_t { kRaw = 0, kZstd = 1, kXorDeltaZstd = 2, kInExtent = 3, kDiffDeltaZstd = 4 };
// Encodings 2 and 4: a record decoded against base chunks.
inline bool IsDelta(Encoding e) { return e == Encoding::kXorDeltaZstd || e == Encoding::kDiffDeltaZstd; }

inline constexpr size_t kPackHeaderSize = 16;
inline constexpr size_t kRecordHeaderSize = 64;

// A chunk kept in extent E is located at "pack" kExtentPackFlag | E, so no
// pack number ever matches it.
inline constexpr uint32_t kExtentPackFlag = 0x80000000u;

// Where a chunk record lives.
struct PackLocation {
  uint32_t pack = 0;
  uint64_t offset = 0;  // of the record header (of the bytes, in an extent)
  uint32_t stored_len = 0;
  uint32_t raw_len = 0;
  Encoding encoding = Encoding::kRaw;
  bool in_extent() const { return encoding == Encoding::kInExtent; }
  uint32_t extent() const { return pack & ~kExtentPackFlag; }
  uint64_t end() const { return offset + record_bytes(); }
  uint64_t record_bytes() const { return (in_extent() ? 0 : kRecordHeaderSize) + stored_len; }
  static PackLocation InExtent(uint32_t extent, uint64_t offset, uint32_t n) {
    return PackLocation{kExtentPackFlag | extent, offset, n, n, Encoding::kInExtent};
  }
};

// One base of a delta record: chunk `id`, whose first byte lies `offset`
// bytes after the delta's first byte (negative: before it).
struct DeltaBase {
  ChunkId id;
  int64_t offset = 0;
  bool operator==(const DeltaBase&) const = default;
};
inline constexpr size_t kMaxDeltaBases = 16;

// A record header as found by a scan.
struct ScannedRecord {
  ChunkId id;
  PackLocation location;
};

// "00000001.pack": the name of pack 1 in a local packs/ directory, and in
// every message about it.
std::string PackFileName(uint32_t pack);

void EncodePackHeader(uint32_t pack, uint8_t header[kPackHeaderSize]);
bool IsPackHeader(const uint8_t header[kPackHeaderSize]);
// `base`: a delta's first base (zero for every other encoding).
void EncodeRecordHeader(const ChunkId& id, const PackLocation& loc, uint8_t header[kRecordHeaderSize],
                        const ChunkId& base = ChunkId());
// False when `header` is not a whole, valid record header (torn, or its
// checksum fails). `pack` and `offset` fill in the location.
bool DecodeRecordHeader(const uint8_t header[kRecordHeaderSize], uint32_t pack, uint64_t offset, ScannedRecord* rec);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_PACK_FORMAT_H_
