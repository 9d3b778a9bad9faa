// RadosConnection: one client of a Ceph cluster and one pool, shared by the
// parts of a store on RADOS (its packs, pack/rados_backend.h; its commit
// objects and leases, cluster/). Only files built with librados include
// this header.
//
// Every operation goes through Run. An operation that timed out (the OSD or
// the monitor did not answer within the op timeout) fails with ETIMEDOUT,
// and the client it ran on is left for a fresh one: later operations
// connect anew instead of waiting on a client whose sessions may never
// recover (seen on a loaded machine: after an OSD came back, a new client
// was served at once while the old one's operations kept timing out). The
// operation is never repeated: a write that timed out may still have
// happened, and the callers already treat it so.
#ifndef CIUICFS_STORE_PACK_RADOS_CONNECTION_H_
#define CIUICFS_STORE_PACK_RADOS_CONNECTION_H_

#include <rados/librados.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "store/base/status.h"

namespace ciuicfs {

struct RadosTarget {
  std::string pool;
  std::string name;       // the store's name inside the pool: every object starts with it
  std::string ceph_conf;  // empty: librados' default search (CEPH_CONF, /etc/ceph/ceph.conf)
  std::string user = "admin";
  // An OSD that stays away longer fails the operation (and the save) with
  // a clear error; a shorter absence only holds it back.
  int op_timeout_s = 60;
  std::string Uri() const { return "rados:" + pool + "/" + name; }
};

class RadosConnection {
 public:
  // Connects; an error names the store and what failed, in one line. A
  // cluster that does not answer is an error within about 10 s.
  static Result<std::shared_ptr<RadosConnection>> Connect(const RadosTarget& target);

  // Runs `op` on the pool and returns what it returned (a librados result:
  // negative errno on failure). Thread-safe; `op` may run while another
  // thread replaces the client (it keeps the one it started on).
  int Run(const std::function<int(librados::IoCtx&)>& op);

  // How many clients this connection has had (1 + replacements).
  uint64_t clients() const;

  const RadosTarget target;

 private:
  explicit RadosConnection(RadosTarget t) : target(std::move(t)) {}

  struct Client {
    librados::Rados rados;
    librados::IoCtx io;  // thread-safe
    bool connected = false;
    ~Client();
  };
  static Result<std::shared_ptr<Client>> NewClient(const RadosTarget& target);
  std::shared_ptr<Client> Current() const;
  void Replace(const std::shared_ptr<Client>& timed_out);

  mutable std::mutex mu_;
  std::shared_ptr<Client> client_;  // guarded by mu_
  uint64_t clients_ = 0;            // guarded by mu_
  std::mutex replace_mu_;           // one reconnect at a time
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_PACK_RADOS_CONNECTION_H_
