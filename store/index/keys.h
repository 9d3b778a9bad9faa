// Every key of the index (FORMAT.md, "Index"), in one place. Integers in
// keys are big-endian, so LMDB's byte order is numeric order. Each Decode
// returns false for a key of the wrong shape; callers turn that into a
// Corruption status with CorruptRow (queries.h).
#ifndef CIUICFS_STORE_INDEX_KEYS_H_
#define CIUICFS_STORE_INDEX_KEYS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "store/base/chunk_id.h"

namespace ciuicfs {

// chunks, manifests, trees: the 16 id bytes (Hash128::Bytes).
std::string HashKey(const Hash128& id);
bool DecodeHashKey(std::string_view k, Hash128* id);

// packs: pack number u32.
std::string PackKey(uint32_t pack);
bool DecodePackKey(std::string_view k, uint32_t* pack);

// extents: extent number u32 (the same shape as a pack key).
inline std::string ExtentKey(uint32_t extent) { return PackKey(extent); }
inline bool DecodeExtentKey(std::string_view k, uint32_t* extent) { return DecodePackKey(k, extent); }

// snapshots: sequence u64.
std::string SeqKey(uint64_t seq);
bool DecodeSeqKey(std::string_view k, uint64_t* seq);

// snapshot_ids: the id in canonical (hex) byte order, high half first, so a
// hex prefix is a key prefix.
std::string SnapshotIdKey(const Hash128& id);
bool DecodeSnapshotIdKey(std::string_view k, Hash128* id);

// steps: (step XOR 2^63) u64 ‖ sequence u64; StepPrefix is the first 8 bytes.
std::string StepKey(int64_t step, uint64_t seq);
std::string StepPrefix(int64_t step);
bool DecodeStepKey(std::string_view k, int64_t* step, uint64_t* seq);

// tags: the tag name.
std::string TagKey(std::string_view name);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_INDEX_KEYS_H_
