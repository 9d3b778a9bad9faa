// One throw-away Ceph cluster (scripts/ceph-cluster.sh: a mon and a
// memstore OSD on 127.0.0.1) for a whole test binary, started on first use
// and stopped at exit. Tests skip with `skip` where none starts here.
#ifndef CIUICFS_TESTS_STORE_CEPH_CLUSTER_H_
#define CIUICFS_TESTS_STORE_CEPH_CLUSTER_H_

#include <string>

namespace ciuicfs::testing {

struct CephCluster {
  static constexpr const char* kPool = "ciuicfs";
  static const CephCluster& Get();
  std::string conf;  // the cluster's ceph.conf; empty when none started
  std::string skip;  // why none started
  std::string dir;   // its scratch directory
};

}  // namespace ciuicfs::testing

#endif  // CIUICFS_TESTS_STORE_CEPH_CLUSTER_H_
