// Verify: walks every snapshot, tree, version and chunk, reads every chunk
// back against its id, recomputes every reference count, and checks the
// packs against the index. Reports problems; repairs nothing. Background
// jobs are paused while it runs.
#ifndef CIUICFS_STORE_VERIFY_H_
#define CIUICFS_STORE_VERIFY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "store/base/status.h"


namespace ciuicfs {

struct StoreParts;

struct VerifyReport {
  uint64_t snapshots = 0, versions = 0, chunks = 0, packs = 0;
  uint64_t extent_versions = 0;  // versions still in extents (not ingested yet)
  std::vector<std::string> problems;  // one line each, naming chunk, pack and files
  bool ok() const { return problems.empty(); }
};

Result<VerifyReport> VerifyStore(const StoreParts& parts, const std::function<void(uint64_t, uint64_t)>& progress);

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_VERIFY_H_
