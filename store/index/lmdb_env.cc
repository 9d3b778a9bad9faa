#include "store/index/lmdb_env.h"

#include <mutex>

namespace ciuicfs {
namespace {

const char* const kDbNames[] = {"meta", "chunks", "packs", "manifests", "trees",
                                "snapshots", "snapshot_ids", "steps", "paths", "tags", "nodes", "ref_log", "branches", "parents", "extents"};

MDB_val Val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
std::string_view View(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

Status LmdbStatus(int rc, const std::string& what) {
  if (rc == 0) return Status::Ok();
  if (rc == MDB_MAP_FULL) return Status::NoSpace(what + ": index map full");
  if (rc == MDB_NOTFOUND) return Status::NotFound(what + ": not found");
  if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID)
    return Status::Corruption(what + ": " + mdb_strerror(rc));
  if (rc > 0) return Status::FromErrno(rc, what);
  return Status::IOError(what + ": " + mdb_strerror(rc));
}

}  // namespace

const char* DbName(Db db) { return kDbNames[int(db)]; }

Status Txn::Check(int rc, const std::string& what) {
  if (rc == MDB_MAP_FULL) map_full_ = true;
  return LmdbStatus(rc, what);
}

Txn::~Txn() {
  if (txn_) mdb_txn_abort(txn_);
}

Result<std::optional<std::string_view>> Txn::Get(Db db, std::string_view key) {
  MDB_val k = Val(key), v;
  int rc = mdb_get(txn_, env_->dbi_[int(db)], &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>();
  if (rc != 0) return LmdbStatus(rc, std::string("get ") + kDbNames[int(db)]);
  return std::optional<std::string_view>(View(v));
}

Status Txn::Put(Db db, std::string_view key, std::string_view value) {
  MDB_val k = Val(key), v = Val(value);
  return Check(mdb_put(txn_, env_->dbi_[int(db)], &k, &v, 0), std::string("put ") + kDbNames[int(db)]);
}

Status Txn::Del(Db db, std::string_view key) {
  MDB_val k = Val(key);
  int rc = mdb_del(txn_, env_->dbi_[int(db)], &k, nullptr);
  if (rc == MDB_NOTFOUND) return Status::Ok();
  return Check(rc, std::string("delete ") + kDbNames[int(db)]);
}

Status Txn::Commit() {
  int rc = mdb_txn_commit(txn_);
  txn_ = nullptr;
  return Check(rc, "commit");
}

Status Txn::Scan(Db db, std::string_view from,
                 const std::function<bool(std::string_view, std::string_view)>& fn) {
  MDB_cursor* cur;
  int rc = mdb_cursor_open(txn_, env_->dbi_[int(db)], &cur);
  if (rc != 0) return LmdbStatus(rc, "cursor");
  MDB_val k = Val(from), v;
  rc = from.empty() ? mdb_cursor_get(cur, &k, &v, MDB_FIRST) : mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && fn(View(k), View(v))) rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
  mdb_cursor_close(cur);
  return rc == 0 || rc == MDB_NOTFOUND ? Status::Ok() : LmdbStatus(rc, std::string("scan ") + kDbNames[int(db)]);
}

Status Txn::ScanBack(Db db, std::string_view from,
                     const std::function<bool(std::string_view, std::string_view)>& fn) {
  MDB_cursor* cur;
  int rc = mdb_cursor_open(txn_, env_->dbi_[int(db)], &cur);
  if (rc != 0) return LmdbStatus(rc, "cursor");
  MDB_val k = Val(from), v;
  rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
  if (rc == MDB_NOTFOUND) {
    rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
  } else if (rc == 0 && View(k) > from) {
    rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
  }
  while (rc == 0 && fn(View(k), View(v))) rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
  mdb_cursor_close(cur);
  return rc == 0 || rc == MDB_NOTFOUND ? Status::Ok() : LmdbStatus(rc, std::string("scan ") + kDbNames[int(db)]);
}

Result<std::unique_ptr<LmdbEnv>> LmdbEnv::Open(const std::string& dir, uint64_t initial_map_size, bool read_only) {
  std::unique_ptr<LmdbEnv> env(new LmdbEnv());
  env->read_only_ = read_only;
  int rc = mdb_env_create(&env->env_);
  if (rc != 0) return LmdbStatus(rc, "lmdb create");
  mdb_env_set_maxdbs(env->env_, static_cast<MDB_dbi>(Db::kCount));
  mdb_env_set_maxreaders(env->env_, 1024);
  rc = mdb_env_open(env->env_, dir.c_str(),
                    MDB_NOTLS | MDB_NORDAHEAD | (read_only ? MDB_RDONLY : MDB_NOMETASYNC), 0600);
  if (rc != 0) return LmdbStatus(rc, "open index " + dir);
  int stale = 0;
  mdb_reader_check(env->env_, &stale);  // reader slots of killed processes, which would pin old pages
  MDB_envinfo info;
  mdb_env_info(env->env_, &info);
  // An existing environment keeps its size; a new one starts small and grows.
  env->map_size_ = info.me_mapsize;
  if (!read_only && env->map_size_ < initial_map_size) {
    rc = mdb_env_set_mapsize(env->env_, initial_map_size);
    if (rc != 0) return LmdbStatus(rc, "set map size");
    env->map_size_ = initial_map_size;
  }
  MDB_txn* txn;
  rc = mdb_txn_begin(env->env_, nullptr, read_only ? MDB_RDONLY : 0, &txn);
  if (rc != 0) return LmdbStatus(rc, "open index " + dir);
  for (int i = 0; i < int(Db::kCount); ++i) {
    rc = mdb_dbi_open(txn, kDbNames[i], read_only ? 0 : MDB_CREATE, &env->dbi_[i]);
    if (rc != 0) {
      mdb_txn_abort(txn);
      return LmdbStatus(rc, std::string("open database ") + kDbNames[i]);
    }
  }
  rc = mdb_txn_commit(txn);
  if (rc != 0) return LmdbStatus(rc, "open index " + dir);
  return env;
}

LmdbEnv::~LmdbEnv() {
  if (env_) mdb_env_close(env_);
}

uint64_t LmdbEnv::map_size() const { return map_size_; }

Result<std::unique_ptr<Txn>> LmdbEnv::BeginRead() {
  std::shared_lock<std::shared_mutex> lock(resize_mu_);
  MDB_txn* txn;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  if (rc == MDB_MAP_RESIZED) {
    // Another process grew the map; adopt its size. Needs no other txn of
    // ours open: take the resize lock exclusively.
    lock.unlock();
    AdoptMapSize();
    lock.lock();
    rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  }
  if (rc != 0) return LmdbStatus(rc, "begin read");
  return std::unique_ptr<Txn>(new Txn(this, txn, std::move(lock)));
}

void LmdbEnv::AdoptMapSize() {
  std::unique_lock<std::shared_mutex> grow(resize_mu_);
  if (mdb_env_set_mapsize(env_, 0) != 0) return;
  MDB_envinfo info;
  if (mdb_env_info(env_, &info) == 0) map_size_ = info.me_mapsize;
}

Status LmdbEnv::Grow(uint64_t seen_size) {
  std::unique_lock<std::shared_mutex> lock(resize_mu_);
  if (map_size_ > seen_size) return Status::Ok();  // another thread grew it
  uint64_t next = map_size_ * 2;
  int rc = mdb_env_set_mapsize(env_, next);
  if (rc != 0) return LmdbStatus(rc, "grow map");
  map_size_ = next;
  return Status::Ok();
}

Status LmdbEnv::Write(const std::function<Status(Txn&)>& fn) {
  if (read_only_) return Status::ReadOnly("the store is open read-only (it is in use by a mount)");
  for (;;) {
    uint64_t seen;
    bool map_full = false;
    Status s;
    {
      std::shared_lock<std::shared_mutex> lock(resize_mu_);
      seen = map_size_;
      MDB_txn* raw;
      int rc = mdb_txn_begin(env_, nullptr, 0, &raw);
      if (rc == MDB_MAP_RESIZED) {  // another process sharing the store grew it
        lock.unlock();
        AdoptMapSize();
        continue;
      }
      if (rc != 0) return LmdbStatus(rc, "begin write");
      Txn txn(this, raw, std::shared_lock<std::shared_mutex>());
      s = fn(txn);
      if (s.ok()) s = txn.Commit();
      map_full = txn.map_full();
    }
    if (!s.ok() && map_full) {
      CIUIC_RETURN_IF_ERROR(Grow(seen));
      continue;
    }
    return s;
  }
}

Status LmdbEnv::Sync() { return LmdbStatus(mdb_env_sync(env_, 1), "sync index"); }

}  // namespace ciuicfs
