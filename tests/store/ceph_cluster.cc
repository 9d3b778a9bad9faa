#include "tests/store/ceph_cluster.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>

#include "tests/store/test_util.h"

namespace ciuicfs::testing {
namespace {

std::string FirstLine(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line.empty() ? "(no message)" : line;
}

struct Running {
  TempDir scratch;
  CephCluster cluster;
  Running() {
    cluster.dir = scratch.Sub("ceph");
    const std::string cmd = std::string(CIUICFS_SOURCE_DIR) + "/scripts/ceph-cluster.sh start " + cluster.dir + " " +
                            CephCluster::kPool + " 2>" + scratch.Sub("start.err");
    FILE* p = popen(cmd.c_str(), "r");
    char line[4096] = {0};
    if (p && std::fgets(line, sizeof(line), p)) cluster.conf = std::string(line, std::strcspn(line, "\n"));
    int rc = p ? pclose(p) : -1;
    if (rc != 0 || cluster.conf.empty()) {
      cluster.skip = "no Ceph cluster starts here: " + FirstLine(scratch.Sub("start.err"));
      cluster.conf.clear();
    }
  }
  ~Running() { std::system((std::string(CIUICFS_SOURCE_DIR) + "/scripts/ceph-cluster.sh stop " + cluster.dir).c_str()); }
};

}  // namespace

pid_t CephCluster::OsdPid() const { return OsdPidIn(dir); }

const CephCluster& CephCluster::Get() {
  static Running running;
  return running.cluster;
}

}  // namespace ciuicfs::testing
