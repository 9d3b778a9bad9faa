// The values store/ keeps in its index, and their encodings (FORMAT.md,
// "Index"). Plain structs; encode/decode are pure functions.
#ifndef CIUICFS_STORE_RECORDS_H_
#define CIUICFS_STORE_RECORDS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/chunk_id.h"
#include "store/pack.h"
#include "store/status.h"

namespace ciuicfs {

// Pack number 0 is never a file: a row pointing there is a chunk whose
// bytes were lost (FORMAT.md, power loss). Its refcount is still right.
inline constexpr uint32_t kLostPack = 0;

struct ChunkRow {
  PackLocation location;
  uint32_t refcount = 0;
};
std::string EncodeChunkRow(const ChunkRow& row);
bool DecodeChunkRow(std::string_view v, ChunkRow* row);

struct PackRow {
  uint64_t indexed_end = 0;  // end of the last record the index may point at
  uint64_t synced_end = 0;   // bytes known to be on stable storage
  uint64_t live_bytes = 0;   // header + payload of records the index points at
  uint64_t live_records = 0;
};
std::string EncodePackRow(const PackRow& row);
bool DecodePackRow(std::string_view v, PackRow* row);

struct ChunkRef {
  ChunkId id;
  uint64_t end = 0;  // cumulative: offset just past this chunk in the file
};

// A file version: its id (XXH3-128 of all bytes), size and chunks.
struct Manifest {
  VersionId id;
  uint64_t size = 0;
  std::vector<ChunkRef> chunks;
  // Index of the chunk holding byte `offset` (< size).
  size_t ChunkAt(uint64_t offset) const;
  uint64_t ChunkStart(size_t i) const { return i == 0 ? 0 : chunks[i - 1].end; }
};
std::string EncodeManifest(const Manifest& m, uint32_t refcount);
bool DecodeManifest(std::string_view v, Manifest* m, uint32_t* refcount);

enum class EntryKind : uint8_t { kFile = 1, kDirectory = 2, kSymlink = 3 };

struct TreeEntry {
  std::string path;  // relative, '/'-separated
  EntryKind kind = EntryKind::kFile;
  uint32_t mode = 0644;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  VersionId version;  // zero for directories
  bool operator==(const TreeEntry&) const = default;
};
using Tree = std::vector<TreeEntry>;  // sorted by path bytes
std::string EncodeTree(const Tree& tree);
bool DecodeTree(std::string_view v, Tree* tree);

// kPut: content written and closed at the path. kLink: a version already
// stored placed at the path (rename, rollback): no bytes were saved.
enum class ChangeKind : uint8_t { kPut = 1, kRemove = 2, kLink = 3 };
const char* ChangeKindName(ChangeKind kind);  // "put", "remove", "link"
char ChangeKindMark(ChangeKind kind);         // '+', '-', '='

struct Change {
  ChangeKind kind = ChangeKind::kPut;
  std::string path;
  VersionId version;  // zero for removals
  uint64_t size = 0;
  bool operator==(const Change&) const = default;
};

struct Snapshot {
  uint64_t seq = 0;
  Hash128 id;
  Hash128 parent;
  Hash128 tree;
  int64_t step = 0;
  int64_t time_ns = 0;
  uint64_t bytes_added = 0;  // new pack bytes (headers + payloads) this commit stored
  std::vector<Change> changes;
};
std::string EncodeSnapshot(const Snapshot& s);
bool DecodeSnapshot(std::string_view v, Snapshot* s);
// The id: XXH3-128 over parent, tree, seq, step, time and changes.
Hash128 ComputeSnapshotId(const Snapshot& s);

// Keys.
std::string SeqKey(uint64_t seq);
uint64_t DecodeSeqKey(std::string_view k);
std::string StepKey(int64_t step, uint64_t seq);
std::string PathKey(std::string_view path, uint64_t seq);
std::string PackKey(uint32_t pack);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_RECORDS_H_
