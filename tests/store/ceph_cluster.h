// One throw-away Ceph cluster (scripts/ceph-cluster.sh: a mon and a
// memstore OSD on 127.0.0.1) for a whole test binary, started on first use
// and stopped at exit. Tests skip with `skip` where none starts here.
#ifndef CIUICFS_TESTS_STORE_CEPH_CLUSTER_H_
#define CIUICFS_TESTS_STORE_CEPH_CLUSTER_H_

#include <signal.h>
#include <sys/types.h>

#include <fstream>
#include <string>

namespace ciuicfs::testing {

struct CephCluster {
  static constexpr const char* kPool = "ciuicfs";
  static const CephCluster& Get();
  std::string conf;  // the cluster's ceph.conf; empty when none started
  std::string skip;  // why none started
  std::string dir;   // its scratch directory
  pid_t OsdPid() const;  // its OSD's process; 0 when it has none
};

// The OSD process of the cluster scripts/ceph-cluster.sh started in `dir`
// (beside its ceph.conf); 0 when it has none.
inline pid_t OsdPidIn(const std::string& dir) {
  std::ifstream f(dir + "/osd.0.pid");
  pid_t pid = 0;
  return f >> pid ? pid : 0;
}

// The cluster's OSD stopped (SIGSTOP) for the scope's life, then resumed
// whatever the test did meanwhile.
class StoppedOsd {
 public:
  explicit StoppedOsd(pid_t osd) : osd_(osd), stopped_(osd > 0 && kill(osd, SIGSTOP) == 0) {}
  ~StoppedOsd() {
    if (stopped_) kill(osd_, SIGCONT);
  }
  StoppedOsd(const StoppedOsd&) = delete;
  StoppedOsd& operator=(const StoppedOsd&) = delete;
  bool stopped() const { return stopped_; }

 private:
  pid_t osd_;
  bool stopped_;
};

}  // namespace ciuicfs::testing

#endif  // CIUICFS_TESTS_STORE_CEPH_CLUSTER_H_
