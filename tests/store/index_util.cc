#include "tests/store/index_util.h"

#include <gtest/gtest.h>

#include "store/index/queries.h"

namespace ciuicfs::testing {

TestIndex::TestIndex() {
  auto opened = LmdbEnv::Open(dir.path(), 1 << 20, false);
  EXPECT_TRUE(opened.ok()) << opened.status().ToString();
  if (opened.ok()) env = std::move(*opened);
}

void InRead(LmdbEnv* env, const std::function<void(Txn&)>& fn) {
  auto txn = env->BeginRead();
  ASSERT_TRUE(txn.ok()) << txn.status().ToString();
  fn(**txn);
}

void PutRaw(LmdbEnv* env, Db db, const std::string& key, const std::string& value) {
  Status s = env->Write([&](Txn& txn) { return txn.Put(db, key, value); });
  ASSERT_TRUE(s.ok()) << s.ToString();
}

std::string HexBytes(std::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::optional<uint32_t> VersionRefcount(LmdbEnv* env, const VersionId& v) {
  std::optional<uint32_t> out;
  InRead(env, [&](Txn& txn) {
    uint32_t rc = 0;
    auto m = LoadManifest(txn, v, &rc);
    if (m.ok()) out = rc;
    else EXPECT_TRUE(m.status().IsNotFound()) << m.status().ToString();
  });
  return out;
}

std::optional<uint32_t> ChunkRefcount(LmdbEnv* env, const ChunkId& c) {
  std::optional<uint32_t> out;
  InRead(env, [&](Txn& txn) {
    auto row = GetChunkRow(txn, c);
    EXPECT_TRUE(row.ok()) << row.status().ToString();
    if (row.ok() && row->has_value()) out = (*row)->refcount;
  });
  return out;
}

}  // namespace ciuicfs::testing
