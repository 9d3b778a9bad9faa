// CommitObject: one commit of a store on RADOS as the object
// NAME.commit.<16 hex> holds it (FORMAT.md, "A store on RADOS"): the
// commit's edits as the commit log encodes them, and the chunk rows and
// manifests it adds, so any node can apply it without the node that made it.
#ifndef CIUICFS_STORE_CLUSTER_COMMIT_OBJECT_H_
#define CIUICFS_STORE_CLUSTER_COMMIT_OBJECT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/commit.h"

namespace ciuicfs {

// A change of the chain's names and retained set, applied by every node as
// the store's own call would apply it (kind 2).
struct RefChange {
  enum class Op : uint8_t { kSetTag = 1, kDeleteTag = 2, kCreateBranch = 3, kDeleteBranch = 4, kDropSnapshots = 5 };
  Op op = Op::kSetTag;
  std::string name;            // the tag or branch
  std::vector<uint64_t> seqs;  // the snapshot (set tag, create branch), the snapshots (drop)
};

// What gc deletes on every node (kind 3; FORMAT.md, "Leases and gc on a
// shared store"): chunk rows still unreferenced, or pack rows still empty.
struct CollectChange {
  uint64_t checked_at = 0;  // the commit number the candidates were found at
  std::vector<ChunkId> chunks;
  std::vector<uint32_t> packs;
};

struct CommitObject {
  enum class Kind : uint8_t { kSnapshot = 1, kRefs = 2, kCollect = 3 };
  Kind kind = Kind::kSnapshot;
  uint64_t number = 0;  // its place in the chain, from 1
  // No fresh ingest, no extent: a version this commit stores is a
  // TreeEdit::PutCarried, one already stored a PutExisting.
  CommitRequest req;
  CarriedRows carried;
  RefChange change;  // kRefs
  CollectChange collect;  // kCollect
};

std::string EncodeCommitObject(const CommitObject& c);
// False for bytes of the wrong shape or a failed checksum.
bool DecodeCommitObject(std::string_view bytes, CommitObject* c);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CLUSTER_COMMIT_OBJECT_H_
