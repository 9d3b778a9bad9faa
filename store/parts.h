// StoreParts: what the facade (store.h) owns, as seen by the one-shot
// passes that work across parts (commit, prune, gc, verify, stats,
// recovery). Internal to store/; fs/ never includes it.
//
// Lock order, the one place it is written (take left before right, never
// the reverse): Store::gc_mu_ -> BackgroundScheduler (Pause) -> PinTable ->
// LMDB's writer lock (LmdbEnv::Write) -> PackStore -> LocalPackBackend's
// descriptor cache. On RADOS: Store::gc_mu_ -> ClusterChain::mu_ -> LMDB's
// writer lock -> LeaseKeeper::mu_ and ClusterChain::emptied_mu_ (Emptied,
// while an object is built); ClusterChain::mu_ -> PinTable and a PackStore
// lane (NoteEmptied, after a catch-up's transaction); the lease's thread
// takes a read transaction, PinTable and a PackStore lane one at a time,
// never nested. LmdbEnv's resize lock is held shared by every open
// transaction and exclusively only while no transaction of the process is
// open.
#ifndef CIUICFS_STORE_PARTS_H_
#define CIUICFS_STORE_PARTS_H_

#include <functional>
#include <string>

#include "store/background/scheduler.h"
#include "store/chain/refs.h"
#include "store/chain/snapshot_chain.h"
#include "store/extent/extent_store.h"
#include "store/index/lmdb_env.h"
#include "store/ingest/chunker.h"
#include "store/ingest/pin_table.h"
#include "store/ingest/version_reader.h"
#include "store/pack/backend.h"
#include "store/pack/pack_store.h"
#include "store/tree/tree_store.h"

namespace ciuicfs {

struct StoreParts {
  std::string dir;
  bool read_only = false;
  LmdbEnv* env = nullptr;
  PackBackend* backend = nullptr;
  PackStore* packs = nullptr;
  PinTable* pins = nullptr;
  ChunkReader* chunks = nullptr;
  TreeStore* trees = nullptr;
  const SnapshotChain* chain = nullptr;
  const Refs* refs = nullptr;
  BackgroundScheduler* background = nullptr;
  ExtentStore* extents = nullptr;
  const Chunker* chunker = nullptr;
  // Whether another process has the store open now (a mount of another
  // branch, which may read a version still in an extent).
  std::function<bool()> shared_now;
  // Waits until every commit this process logged is in the index (the
  // commit log, FORMAT.md); empty where nothing is logged.
  std::function<Status()> see_log;

  // OK when the store takes writes: not read-only, no background error.
  Status CanWrite() const;
  // Sets the background error when `s` is a failed sync or write.
  Status NoteSyncResult(Status s) const;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_PARTS_H_
