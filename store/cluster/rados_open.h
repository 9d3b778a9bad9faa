// Opening a store on RADOS (FORMAT.md, "A store on RADOS"): the cache
// directory's RADOS file, which names the store a cache belongs to, and the
// connection whose pack backend, commit objects and leases the store uses.
#ifndef CIUICFS_STORE_CLUSTER_RADOS_OPEN_H_
#define CIUICFS_STORE_CLUSTER_RADOS_OPEN_H_

#include <memory>
#include <optional>
#include <string>

#include "store/base/status.h"
#include "store/cluster/commit_objects.h"
#include "store/cluster/lease.h"
#include "store/pack/backend.h"

namespace ciuicfs {

// What the RADOS file of a cache directory says.
struct RadosCacheFile {
  std::string uri;  // rados:POOL/NAME
  std::string ceph_conf;
  std::string user = "admin";
};

// The RADOS file in `dir`: nullopt when there is none (a local store).
Result<std::optional<RadosCacheFile>> ReadRadosCacheFile(const std::string& dir);
// Writes it (synced) where there is none; where there is one, it must name
// the same store (InvalidArgument: a cache of another store).
Status ClaimRadosCache(const std::string& dir, const RadosCacheFile& want);

struct RadosStoreParts {
  std::unique_ptr<PackBackend> packs;
  std::unique_ptr<CommitObjects> commits;
  std::unique_ptr<LeaseTable> leases;
};
// Connects to the store the file names; one line that says what failed.
Result<RadosStoreParts> ConnectRadosStore(const RadosCacheFile& store);

// What a store opened on `dir` takes from RADOS: nothing (nullopt) for a
// local store without a RADOS file; else the connection to the store that
// `location` names (a rados: URI, `named`) or that the cache's RADOS file
// names. Checks that `dir` is a cache of that store (`dir_is_store`: it
// holds a store marker), and a writable open claims it (the RADOS file
// first, so a kill before the marker leaves a cache that names its store).
struct RadosOpen {
  std::string dir, location;
  bool named = false, dir_is_store = false, read_only = false;
  std::string ceph_conf, ceph_user;
};
struct RadosAttached {
  RadosCacheFile cache;
  RadosStoreParts parts;
};
Result<std::optional<RadosAttached>> AttachRadosStore(const RadosOpen& open);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CLUSTER_RADOS_OPEN_H_
