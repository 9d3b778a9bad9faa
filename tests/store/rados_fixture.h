// The fixture of the tests of a store on RADOS: a throw-away one-node
// cluster (ceph_cluster.h), one store name per test, and nodes that are
// Store objects with caches of their own.
#ifndef CIUICFS_TESTS_STORE_RADOS_FIXTURE_H_
#define CIUICFS_TESTS_STORE_RADOS_FIXTURE_H_

#ifdef CIUICFS_HAVE_RADOS
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "store/store.h"
#include "tests/store/ceph_cluster.h"
#include "tests/store/test_util.h"

namespace ciuicfs {

class RadosStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const testing::CephCluster& c = testing::CephCluster::Get();
    if (!c.skip.empty()) GTEST_SKIP() << c.skip;
    conf_ = c.conf;
    // A store name of its own per test, in the one pool.
    name_ = std::string("t") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  std::string Uri() const { return std::string("rados:") + testing::CephCluster::kPool + "/" + name_; }
  // A node: a store whose cache is `cache` under the test's scratch.
  Result<std::unique_ptr<Store>> TryNode(const std::string& cache, StoreOptions options = {}) {
    options.cache_dir = tmp_.Sub(cache);
    options.ceph_conf = conf_;
    return Store::Open(Uri(), options);
  }
  std::unique_ptr<Store> Node(const std::string& cache, StoreOptions options = {}) {
    auto s = TryNode(cache, options);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s.value()) : nullptr;
  }
  static std::vector<Hash128> Ids(Store* s) {
    std::vector<Hash128> out;
    auto snaps = s->ListSnapshots();
    EXPECT_TRUE(snaps.ok()) << snaps.status().ToString();
    if (snaps.ok())
      for (const Snapshot& x : *snaps) out.push_back(x.id);
    return out;
  }

  testing::TempDir tmp_;
  std::string conf_, name_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_HAVE_RADOS
#endif  // CIUICFS_TESTS_STORE_RADOS_FIXTURE_H_
