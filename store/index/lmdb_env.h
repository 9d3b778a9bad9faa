// Thin RAII over LMDB for store/ internals (never included outside store/);
// the only file that includes <lmdb.h>.
//
// LmdbEnv owns the environment and the named databases. Every transaction
// holds `resize_mu_` shared for its lifetime, so growing the map (which
// LMDB allows only with no transaction open in the process) takes it
// exclusively. Read transactions are short: one per request, never kept.
// Several processes may share the environment (mounts of one store on
// different branches); a map another one grew is adopted on the next
// transaction.
// A transaction aborts in its destructor unless committed.
#ifndef CIUICFS_STORE_INDEX_LMDB_ENV_H_
#define CIUICFS_STORE_INDEX_LMDB_ENV_H_

#include <lmdb.h>

#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "store/base/status.h"

namespace ciuicfs {

enum class Db { kMeta, kChunks, kPacks, kManifests, kTrees, kSnapshots, kSnapshotIds, kSteps, kPaths, kTags, kNodes, kRefLog, kBranches, kParents, kExtents, kCount };

// "chunks", "packs", ...: the database's name in the environment and in messages.
const char* DbName(Db db);

class LmdbEnv;

class Txn {
 public:
  ~Txn();
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  // Not found is std::nullopt, not an error. The view lives until the txn ends.
  Result<std::optional<std::string_view>> Get(Db db, std::string_view key);
  Status Put(Db db, std::string_view key, std::string_view value);
  Status Del(Db db, std::string_view key);  // absent key is OK
  Status Commit();
  // True once an operation of this transaction found the map full.
  bool map_full() const { return map_full_; }

  // Visits keys >= `from` in order until `fn` returns false. Keys and values
  // are valid during the call only.
  Status Scan(Db db, std::string_view from,
              const std::function<bool(std::string_view key, std::string_view value)>& fn);
  // Visits keys <= `from` in descending order.
  Status ScanBack(Db db, std::string_view from,
                  const std::function<bool(std::string_view key, std::string_view value)>& fn);

 private:
  friend class LmdbEnv;
  Txn(LmdbEnv* env, MDB_txn* txn, std::shared_lock<std::shared_mutex> lock)
      : env_(env), txn_(txn), lock_(std::move(lock)) {}
  Status Check(int rc, const std::string& what);
  LmdbEnv* env_;
  bool map_full_ = false;
  MDB_txn* txn_;
  std::shared_lock<std::shared_mutex> lock_;
};

class LmdbEnv {
 public:
  // `read_only`: another process may be writing; never writes, and follows
  // the writer when it grows the map.
  static Result<std::unique_ptr<LmdbEnv>> Open(const std::string& dir, uint64_t initial_map_size, bool read_only);
  ~LmdbEnv();

  Result<std::unique_ptr<Txn>> BeginRead();
  // Runs `fn` in a write transaction and commits it. When the map is full,
  // the transaction is dropped, the map doubled, and `fn` run again, so
  // `fn` must have no effect outside the transaction.
  Status Write(const std::function<Status(Txn&)>& fn);
  // Forces data and meta pages to disk.
  Status Sync();
  uint64_t map_size() const;

 private:
  friend class Txn;
  LmdbEnv() = default;
  Status Grow(uint64_t seen_size);
  // Takes the map size another process set (after MDB_MAP_RESIZED).
  void AdoptMapSize();

  MDB_env* env_ = nullptr;
  bool read_only_ = false;
  MDB_dbi dbi_[static_cast<int>(Db::kCount)] = {};
  std::shared_mutex resize_mu_;
  uint64_t map_size_ = 0;
};

// Runs `fn` in one read transaction of `env`.
template <typename Fn>
auto WithRead(LmdbEnv* env, Fn&& fn) -> decltype(fn(std::declval<Txn&>())) {
  auto txn = env->BeginRead();
  if (!txn.ok()) return txn.status();
  return fn(**txn);
}

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_INDEX_LMDB_ENV_H_
