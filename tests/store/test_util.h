// Helpers for store/ tests: temp dirs, deterministic data, one-call ingest.
#ifndef CIUICFS_TESTS_STORE_TEST_UTIL_H_
#define CIUICFS_TESTS_STORE_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <functional>
#include <string>

#include "store/store.h"

namespace ciuicfs::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// `n` pseudo-random bytes, the same for the same seed.
std::string RandomBytes(uint64_t seed, size_t n);

std::unique_ptr<Store> OpenStore(const std::string& dir, StoreOptions options = {});

// Ingests `data` in pieces of `piece` bytes.
PendingVersion Ingest(Store* store, const std::string& data, size_t piece = 1 << 20);

// Ingests and commits one file; returns the snapshot. `durable`: the
// commit syncs packs and index (what fsync asks for).
Snapshot CommitFile(Store* store, const std::string& path, const std::string& data,
                    std::optional<int64_t> step = std::nullopt, bool durable = false);

// The whole content of a stored version.
std::string ReadVersion(Store* store, const VersionId& id);

// The version of `path` in snapshot `snap`'s tree (zero id when absent).
VersionId VersionIn(Store* store, const Snapshot& snap, const std::string& path);

// Verify runs and finds nothing wrong (each problem is a test failure).
void ExpectVerifyClean(Store* store);

uint64_t FileSize(const std::string& path);

// XORs the byte at `offset` of `path` with `mask` (simulated bit rot).
void FlipByte(const std::string& path, uint64_t offset, uint8_t mask = 0x01);

// Runs `body` in a forked child process; returns its waitpid status.
int RunChild(const std::function<void()>& body);

}  // namespace ciuicfs::testing

#endif  // CIUICFS_TESTS_STORE_TEST_UTIL_H_
