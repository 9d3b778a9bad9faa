// Helpers for tests of the index and the parts that store rows in it
// (index_*, tree_test): an LMDB environment in a temp dir, one-call reads
// and raw writes, and the refcounts of versions and chunks.
#ifndef CIUICFS_TESTS_STORE_INDEX_UTIL_H_
#define CIUICFS_TESTS_STORE_INDEX_UTIL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "store/index/lmdb_env.h"
#include "store/index/rows.h"
#include "tests/store/test_util.h"

namespace ciuicfs::testing {

// An index in a fresh temp dir; `env` is null when it could not be opened
// (the failure is reported).
struct TestIndex {
  TestIndex();
  TempDir dir;
  std::unique_ptr<LmdbEnv> env;
};

// Runs `fn` in one read transaction.
void InRead(LmdbEnv* env, const std::function<void(Txn&)>& fn);
// Writes `value` under `key`, whatever it holds.
void PutRaw(LmdbEnv* env, Db db, const std::string& key, const std::string& value);
// Lowercase hex of raw bytes, the way CorruptRow names a key.
std::string HexBytes(std::string_view bytes);

// manifests.refcount of `v` / chunks.refcount of `c`; nullopt without a row.
std::optional<uint32_t> VersionRefcount(LmdbEnv* env, const VersionId& v);
std::optional<uint32_t> ChunkRefcount(LmdbEnv* env, const ChunkId& c);

}  // namespace ciuicfs::testing

#endif  // CIUICFS_TESTS_STORE_INDEX_UTIL_H_
