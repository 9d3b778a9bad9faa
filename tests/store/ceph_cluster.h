// One throw-away Ceph cluster (scripts/ceph-cluster.sh: a mon and a
// memstore OSD on 127.0.0.1) for a whole test binary, started on first use
// and stopped at exit. Tests skip with `skip` where none starts here.
#ifndef CIUICFS_TESTS_STORE_CEPH_CLUSTER_H_
#define CIUICFS_TESTS_STORE_CEPH_CLUSTER_H_

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <thread>

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

// Whether every thread of `pid` is stopped (state T in /proc): kill()
// returns before a busy thread has taken its SIGSTOP, and one not yet
// stopped can still answer a request sent after it.
inline bool AllThreadsStopped(pid_t pid) {
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid) + "/task";
  std::error_code ec;
  bool any = false;
  for (const auto& t : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream f(t.path() / "stat");
    std::string line;
    if (!std::getline(f, line)) continue;  // a thread gone meanwhile
    size_t close = line.rfind(')');        // the name, in parentheses, may hold spaces
    if (close == std::string::npos || close + 2 >= line.size()) return false;
    const char state = line[close + 2];
    if (state != 'T' && state != 't') return false;
    any = true;
  }
  return any && !ec;
}

// The cluster's OSD stopped (SIGSTOP) for the scope's life, then resumed
// whatever the test did meanwhile. stopped(): the signal was sent and every
// thread has taken it (waited for, up to 10 s).
class StoppedOsd {
 public:
  explicit StoppedOsd(pid_t osd) : osd_(osd), sent_(osd > 0 && kill(osd, SIGSTOP) == 0) {
    for (int i = 0; sent_ && i < 1000 && !(stopped_ = AllThreadsStopped(osd_)); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~StoppedOsd() {
    if (sent_) kill(osd_, SIGCONT);
  }
  StoppedOsd(const StoppedOsd&) = delete;
  StoppedOsd& operator=(const StoppedOsd&) = delete;
  bool stopped() const { return stopped_; }

 private:
  pid_t osd_;
  bool sent_;
  bool stopped_ = false;
};

}  // namespace ciuicfs::testing

#endif  // CIUICFS_TESTS_STORE_CEPH_CLUSTER_H_
