// RadosConnection: one client connection to a Ceph cluster and one pool,
// shared by the parts of a store on RADOS (its packs, pack/rados_backend.h;
// its commit objects, cluster/rados_commit_objects.h). Only files built
// with librados include this header.
#ifndef CIUICFS_STORE_PACK_RADOS_CONNECTION_H_
#define CIUICFS_STORE_PACK_RADOS_CONNECTION_H_

#include <rados/librados.hpp>

#include <memory>
#include <string>

#include "store/base/status.h"

namespace ciuicfs {

struct RadosTarget {
  std::string pool;
  std::string name;       // the store's name inside the pool: every object starts with it
  std::string ceph_conf;  // empty: librados' default search (CEPH_CONF, /etc/ceph/ceph.conf)
  std::string user = "admin";
  std::string Uri() const { return "rados:" + pool + "/" + name; }
};

struct RadosConnection {
  // Connects; an error names the store and what failed, in one line. A
  // cluster that does not answer is an error within about 10 s.
  static Result<std::shared_ptr<RadosConnection>> Connect(const RadosTarget& target);
  ~RadosConnection();
  RadosTarget target;
  librados::Rados rados;
  librados::IoCtx io;  // thread-safe
  bool connected = false;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_PACK_RADOS_CONNECTION_H_
