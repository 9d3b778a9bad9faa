// FaultBackend: a PackBackend wrapper for tests that fails chosen calls the
// way disks and filesystems fail: ENOSPC or EIO on an append, a torn append
// (a prefix written, then the error, as a crash or a lost device leaves
// it), a short append (a prefix written and cut back, then the error), EIO
// on a read, a failed fdatasync. A rule fires on the Nth matching call
// from when it was added, or on every call a predicate accepts. Everything
// else passes through to the wrapped backend. Thread-safe.
//
//   auto* faults = new FaultBackend(std::move(real));
//   faults->Add({.op = FaultOp::kAppend, .error = ENOSPC, .nth = 3});
#ifndef CIUICFS_STORE_PACK_FAULT_BACKEND_H_
#define CIUICFS_STORE_PACK_FAULT_BACKEND_H_

#include <cerrno>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "store/pack/backend.h"

namespace ciuicfs {

enum class FaultOp { kCreate, kAppend, kReadAt, kSize, kTruncate, kRemove, kList, kSync };

struct FaultRule {
  enum class Kind {
    kFail,   // the call fails with `error`; nothing changes
    kTorn,   // appends: the first half of the bytes stay, then `error`
    kShort,  // appends: a prefix is written and cut back, then `error`
  };
  FaultOp op = FaultOp::kAppend;
  Kind kind = Kind::kFail;
  int error = EIO;
  uint64_t nth = 1;  // fire on the nth matching call after Add (1: the next one)
  // When set, a call matches only if it accepts (pack, offset, length).
  std::function<bool(uint32_t pack, uint64_t offset, uint64_t length)> when = nullptr;
  bool sticky = false;  // keep firing on every later match
};

class FaultBackend : public PackBackend {
 public:
  explicit FaultBackend(std::unique_ptr<PackBackend> base);

  void Add(FaultRule rule);
  void Clear();
  // How many calls a rule made fail.
  uint64_t fired() const;

  Status Create(uint32_t pack) override;
  Status Append(uint32_t pack, uint64_t offset, const struct iovec* pieces, int count) override;
  Status ReadAt(uint32_t pack, uint64_t offset, void* dst, size_t n) override;
  Result<uint64_t> Size(uint32_t pack) override;
  Status Truncate(uint32_t pack, uint64_t size) override;
  Status Remove(uint32_t pack) override;
  Result<std::vector<uint32_t>> List() override;
  Result<uint64_t> Sync(uint32_t pack) override;
  std::string Name(uint32_t pack) const override { return base_->Name(pack); }

 private:
  struct Armed {
    FaultRule rule;
    uint64_t seen = 0;
    bool spent = false;
  };
  // The rule that fires for this call, if any.
  std::optional<FaultRule> Match(FaultOp op, uint32_t pack, uint64_t offset, uint64_t length);
  Status Injected(const FaultRule& rule, FaultOp op, uint32_t pack) const;

  std::unique_ptr<PackBackend> base_;
  mutable std::mutex mu_;
  std::vector<Armed> rules_;
  uint64_t fired_ = 0;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_PACK_FAULT_BACKEND_H_
