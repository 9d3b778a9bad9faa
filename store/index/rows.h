// Every value of the index and its encoding (FORMAT.md, "Index"), in one
// place; the keys are in keys.h. Plain structs; encode/decode are pure
// functions. A Decode returns false for bytes of the wrong shape; callers
// turn that into a Corruption status with CorruptRow (queries.h), the one
// rule for rows that do not decode.
#ifndef CIUICFS_STORE_INDEX_ROWS_H_
#define CIUICFS_STORE_INDEX_ROWS_H_

#include <algorithm>
#include <map>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/chunk_id.h"
#include "store/pack/format.h"
#include "store/base/status.h"

namespace ciuicfs {

// Pack number 0 is never a file: a row pointing there is a chunk whose
// bytes were lost (FORMAT.md, power loss). Its refcount is still right.
inline constexpr uint32_t kLostPack = 0;

struct ChunkRow {
  PackLocation location;
  uint32_t refcount = 0;
  // Re-encoding (FORMAT.md, "Encoded records"): delta records naming this
  // chunk as a base, and a delta's own bases.
  uint32_t dependents = 0;
  std::vector<DeltaBase> bases;
};
std::string EncodeChunkRow(const ChunkRow& row);
bool DecodeChunkRow(std::string_view v, ChunkRow* row);

struct PackRow {
  uint64_t indexed_end = 0;  // end of the last record the index may point at
  uint64_t synced_end = 0;   // bytes known to be on stable storage
  uint64_t live_bytes = 0;   // header + payload of records the index points at
  uint64_t live_records = 0;
  // A sync made the pack durable up to `durable_end`; what the index knows
  // to be synced never passes what it points at.
  void NoteSynced(uint64_t durable_end) {
    synced_end = std::max(synced_end, std::min(durable_end, indexed_end));
  }
};
std::string EncodePackRow(const PackRow& row);
bool DecodePackRow(std::string_view v, PackRow* row);

struct ChunkRef {
  ChunkId id;
  uint64_t end = 0;  // cumulative: offset just past this chunk in the file
};

// A file version: its id, size and chunks; or, before its background
// ingest, the extent holding its bytes (FORMAT.md, "Extents").
struct Manifest {
  VersionId id;
  uint64_t size = 0;
  std::vector<ChunkRef> chunks;
  uint32_t extent = 0;  // nonzero: bytes [0, size) are in this extent; chunks is empty
  // Index of the chunk holding byte `offset` (< size).
  size_t ChunkAt(uint64_t offset) const;
  uint64_t ChunkStart(size_t i) const { return i == 0 ? 0 : chunks[i - 1].end; }
};
std::string EncodeManifest(const Manifest& m, uint32_t refcount);
bool DecodeManifest(std::string_view v, Manifest* m, uint32_t* refcount);

// The versions whose bytes one extent holds (the `extents` row).
struct ExtentRow {
  struct Held {
    VersionId version;
    uint64_t length = 0;
  };
  std::vector<Held> versions;
  // Chunks kept in place in the extent after its ingest (chunk rows at
  // kExtentPackFlag | E): how many, and their bytes.
  uint64_t live_records = 0;
  uint64_t live_bytes = 0;
  uint64_t max_length() const;
  bool empty() const { return versions.empty() && live_records == 0; }
};
std::string EncodeExtentRow(const ExtentRow& row);
bool DecodeExtentRow(std::string_view v, ExtentRow* row);

// FORMAT.md, "Nodes". The special files (kFifo and up) have no content.
enum class EntryKind : uint8_t {
  kFile = 1, kDirectory = 2, kSymlink = 3, kFifo = 4, kCharDevice = 5, kBlockDevice = 6, kSocket = 7
};
constexpr uint8_t kLastEntryKind = 7;
// Whether an entry of this kind names a version (its content).
inline bool HasVersion(EntryKind k) { return k == EntryKind::kFile || k == EntryKind::kSymlink; }

// What an entry keeps beyond kind, mode, size and mtime (FORMAT.md,
// "Nodes", attributes). All defaults for most entries, which then encode
// as entries did before attributes existed.
struct EntryAttrs {
  uint32_t uid = 0, gid = 0;
  int64_t atime_ns = 0;  // 0: the same as the mtime
  uint64_t rdev = 0;     // kCharDevice, kBlockDevice
  uint64_t link = 0;     // nonzero: the entries of a tree with this value are one file (hard links)
  std::map<std::string, std::string> xattrs;
  bool IsDefault() const { return uid == 0 && gid == 0 && atime_ns == 0 && rdev == 0 && link == 0 && xattrs.empty(); }
  bool operator==(const EntryAttrs&) const = default;
};
constexpr size_t kMaxXattrName = 255;
constexpr size_t kMaxXattrValue = 64 << 10;
constexpr size_t kMaxXattrs = 1 << 10;

struct TreeEntry {
  std::string path;  // relative, '/'-separated
  EntryKind kind = EntryKind::kFile;
  uint32_t mode = 0644;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  VersionId version;  // zero for directories and special files
  EntryAttrs attrs;
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

// trees: refcount u32, then the tree encoding.
std::string EncodeTreeRow(uint32_t refcount, std::string_view encoded_tree);
bool DecodeTreeRow(std::string_view v, uint32_t* refcount, Tree* tree);

// nodes (format 2): one piece of one directory (FORMAT.md, "Nodes"). A
// leaf (level 0) holds entries sorted by name; an inner node (level >= 1)
// holds its children sorted by the last name below each.
struct NodeEntry {
  std::string name;  // one path component
  EntryKind kind = EntryKind::kFile;
  uint32_t mode = 0644;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  Hash128 id;  // files, symlinks: the version; directories: the root node (zero: empty); else zero
  EntryAttrs attrs;
  bool operator==(const NodeEntry&) const = default;
};
struct NodeChild {
  std::string last;  // the greatest name below this child
  Hash128 id;
  bool operator==(const NodeChild&) const = default;
};
struct Node {
  uint8_t level = 0;
  std::vector<NodeEntry> entries;   // level 0
  std::vector<NodeChild> children;  // level >= 1
};
// The node's encoding, without the refcount; its id is XXH3-128 of this.
std::string EncodeNode(const Node& node);
bool DecodeNode(std::string_view v, Node* node);
// refcount u32, then the node encoding.
std::string EncodeNodeRow(uint32_t refcount, std::string_view encoded_node);
bool DecodeNodeRow(std::string_view v, uint32_t* refcount, Node* node);

// ref_log (format 2): reference counts a commit added, not yet applied to
// the rows (FORMAT.md, "Deferred counts"). Deltas are positive.
struct RefDeltas {
  std::map<Hash128, uint64_t> nodes;     // nodes.refcount += n
  std::map<VersionId, uint64_t> versions;  // manifests.refcount += n
  bool empty() const { return nodes.empty() && versions.empty(); }
  void Add(const RefDeltas& other);
};
std::string EncodeRefDeltas(const RefDeltas& d);
bool DecodeRefDeltas(std::string_view v, RefDeltas* d);

// manifests, trees and nodes begin with their refcount u32: read or replace it in
// an encoded row without decoding the rest.
bool RowRefcount(std::string_view v, uint32_t* refcount);
void SetRowRefcount(std::string* row, uint32_t refcount);

// snapshot_ids and tags: a sequence number u64.
std::string EncodeSeqValue(uint64_t seq);
bool DecodeSeqValue(std::string_view v, uint64_t* seq);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_INDEX_ROWS_H_
