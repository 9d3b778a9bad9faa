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

enum class Encoding : uint8_t { kRaw = 0, kZstd = 1, kXorDeltaZstd = 2 };

inline constexpr size_t kPackHeaderSize = 16;
inline constexpr size_t kRecordHeaderSize = 64;

// Where a chunk record lives.
struct PackLocation {
  uint32_t pack = 0;
  uint64_t offset = 0;  // of the record header
  uint32_t stored_len = 0;
  uint32_t raw_len = 0;
  Encoding encoding = Encoding::kRaw;
  uint64_t end() const { return offset + kRecordHeaderSize + stored_len; }
  uint64_t record_bytes() const { return kRecordHeaderSize + stored_len; }
};

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
void EncodeRecordHeader(const ChunkId& id, const PackLocation& loc, uint8_t header[kRecordHeaderSize]);
// False when `header` is not a whole, valid record header (torn, or its
// checksum fails). `pack` and `offset` fill in the location.
bool DecodeRecordHeader(const uint8_t header[kRecordHeaderSize], uint32_t pack, uint64_t offset, ScannedRecord* rec);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_PACK_FORMAT_H_
