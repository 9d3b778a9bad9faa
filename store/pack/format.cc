#include "store/pack/format.h"

#include <cstdio>
#include <cstring>

#include "store/base/coding.h"

namespace ciuicfs {
namespace {

constexpr char kPackMagic[8] = {'C', 'I', 'U', 'I', 'C', 'P', 'K', '1'};
constexpr char kRecordMagic[4] = {'C', 'K', 'R', '1'};
constexpr uint32_t kPackFormatVersion = 1;

}  // namespace

std::string PackFileName(uint32_t pack) {
  char name[32];
  std::snprintf(name, sizeof(name), "%08x.pack", pack);
  return name;
}

void EncodePackHeader(uint32_t pack, uint8_t header[kPackHeaderSize]) {
  std::memset(header, 0, kPackHeaderSize);
  std::memcpy(header, kPackMagic, 8);
  StoreLE<uint32_t>(header + 8, kPackFormatVersion);
  StoreLE<uint32_t>(header + 12, pack);
}

bool IsPackHeader(const uint8_t header[kPackHeaderSize]) { return std::memcmp(header, kPackMagic, 8) == 0; }

void EncodeRecordHeader(const ChunkId& id, const PackLocation& loc, uint8_t h[kRecordHeaderSize], const ChunkId& base) {
  std::memset(h, 0, kRecordHeaderSize);
  std::memcpy(h, kRecordMagic, 4);
  h[4] = static_cast<uint8_t>(loc.encoding);
  StoreLE<uint32_t>(h + 8, loc.stored_len);
  StoreLE<uint32_t>(h + 12, loc.raw_len);
  StoreLE<uint64_t>(h + 16, id.lo);
  StoreLE<uint64_t>(h + 24, id.hi);
  StoreLE<uint64_t>(h + 32, base.lo);
  StoreLE<uint64_t>(h + 40, base.hi);
  StoreLE<uint64_t>(h + 56, Checksum64(h, 56));
}

bool DecodeRecordHeader(const uint8_t h[kRecordHeaderSize], uint32_t pack, uint64_t offset, ScannedRecord* rec) {
  if (std::memcmp(h, kRecordMagic, 4) != 0) return false;
  if (LoadLE<uint64_t>(h + 56) != Checksum64(h, 56)) return false;
  if (h[4] > static_cast<uint8_t>(Encoding::kDiffDeltaZstd) || h[4] == static_cast<uint8_t>(Encoding::kInExtent))
    return false;
  rec->id = Hash128::FromBytes(h + 16);
  rec->location = PackLocation{pack, offset, LoadLE<uint32_t>(h + 8), LoadLE<uint32_t>(h + 12),
                               static_cast<Encoding>(h[4])};
  return true;
}

}  // namespace ciuicfs
