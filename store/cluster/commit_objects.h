// CommitObjects: where a shared store's chain lives, one numbered object
// per commit (FORMAT.md, "A store on RADOS"). The object store orders the
// chain: Create of number N succeeds on exactly one node.
#ifndef CIUICFS_STORE_CLUSTER_COMMIT_OBJECTS_H_
#define CIUICFS_STORE_CLUSTER_COMMIT_OBJECTS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "store/base/status.h"

namespace ciuicfs {

class CommitObjects {
 public:
  virtual ~CommitObjects() = default;
  // Creates object `n` holding `bytes`, exclusively: false when it exists
  // (another node took `n`). An error leaves it unknown whether it exists.
  virtual Result<bool> Create(uint64_t n, std::string_view bytes) = 0;
  // NotFound when object `n` does not exist (yet).
  virtual Result<std::string> Read(uint64_t n) = 0;
  // How messages name object `n`.
  virtual std::string Name(uint64_t n) const = 0;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_CLUSTER_COMMIT_OBJECTS_H_
