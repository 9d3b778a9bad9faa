#include "store/pack/fault_backend.h"

#include <algorithm>
#include <optional>

namespace ciuicfs {
namespace {

const char* OpName(FaultOp op) {
  switch (op) {
    case FaultOp::kCreate: return "create";
    case FaultOp::kAppend: return "write";
    case FaultOp::kReadAt: return "read";
    case FaultOp::kSize: return "stat";
    case FaultOp::kTruncate: return "truncate";
    case FaultOp::kRemove: return "remove";
    case FaultOp::kList: return "list";
    case FaultOp::kSync: return "fdatasync";
  }
  return "?";
}

uint64_t TotalLength(const struct iovec* pieces, int count) {
  uint64_t n = 0;
  for (int i = 0; i < count; ++i) n += pieces[i].iov_len;
  return n;
}

// The first `keep` bytes of `pieces`, as pieces.
std::vector<struct iovec> Prefix(const struct iovec* pieces, int count, uint64_t keep) {
  std::vector<struct iovec> out;
  for (int i = 0; i < count && keep > 0; ++i) {
    size_t take = static_cast<size_t>(std::min<uint64_t>(keep, pieces[i].iov_len));
    out.push_back({pieces[i].iov_base, take});
    keep -= take;
  }
  return out;
}

}  // namespace

FaultBackend::FaultBackend(std::unique_ptr<PackBackend> base) : base_(std::move(base)) {}

void FaultBackend::Add(FaultRule rule) {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.push_back(Armed{std::move(rule)});
}

void FaultBackend::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  rules_.clear();
}

uint64_t FaultBackend::fired() const {
  std::lock_guard<std::mutex> lock(mu_);
  return fired_;
}

std::optional<FaultRule> FaultBackend::Match(FaultOp op, uint32_t pack, uint64_t offset, uint64_t length) {
  std::lock_guard<std::mutex> lock(mu_);
  for (Armed& a : rules_) {
    if (a.spent || a.rule.op != op) continue;
    if (a.rule.when && !a.rule.when(pack, offset, length)) continue;
    if (++a.seen < a.rule.nth) continue;
    a.spent = !a.rule.sticky;
    ++fired_;
    return a.rule;
  }
  return std::nullopt;
}

Status FaultBackend::Injected(const FaultRule& rule, FaultOp op, uint32_t pack) const {
  return Status::FromErrno(rule.error, std::string(OpName(op)) + " " + Name(pack) + " (injected)");
}

Status FaultBackend::Create(uint32_t pack) {
  if (auto r = Match(FaultOp::kCreate, pack, 0, 0)) return Injected(*r, FaultOp::kCreate, pack);
  return base_->Create(pack);
}

Status FaultBackend::Append(uint32_t pack, uint64_t offset, const struct iovec* pieces, int count) {
  const uint64_t length = TotalLength(pieces, count);
  auto r = Match(FaultOp::kAppend, pack, offset, length);
  if (!r) return base_->Append(pack, offset, pieces, count);
  if (r->kind != FaultRule::Kind::kFail && length > 1) {
    std::vector<struct iovec> prefix = Prefix(pieces, count, length / 2);
    CIUIC_RETURN_IF_ERROR(base_->Append(pack, offset, prefix.data(), int(prefix.size())));
    if (r->kind == FaultRule::Kind::kShort) CIUIC_RETURN_IF_ERROR(base_->Truncate(pack, offset));
  }
  return Injected(*r, FaultOp::kAppend, pack);
}

Status FaultBackend::ReadAt(uint32_t pack, uint64_t offset, void* dst, size_t n) {
  if (auto r = Match(FaultOp::kReadAt, pack, offset, n)) return Injected(*r, FaultOp::kReadAt, pack);
  return base_->ReadAt(pack, offset, dst, n);
}

Result<uint64_t> FaultBackend::Size(uint32_t pack) {
  if (auto r = Match(FaultOp::kSize, pack, 0, 0)) return Injected(*r, FaultOp::kSize, pack);
  return base_->Size(pack);
}

Status FaultBackend::Truncate(uint32_t pack, uint64_t size) {
  if (auto r = Match(FaultOp::kTruncate, pack, size, 0)) return Injected(*r, FaultOp::kTruncate, pack);
  return base_->Truncate(pack, size);
}

Status FaultBackend::Remove(uint32_t pack) {
  if (auto r = Match(FaultOp::kRemove, pack, 0, 0)) return Injected(*r, FaultOp::kRemove, pack);
  return base_->Remove(pack);
}

Result<std::vector<uint32_t>> FaultBackend::List() {
  if (auto r = Match(FaultOp::kList, 0, 0, 0)) return Injected(*r, FaultOp::kList, 0);
  return base_->List();
}

Result<uint64_t> FaultBackend::Sync(uint32_t pack) {
  if (auto r = Match(FaultOp::kSync, pack, 0, 0)) return Injected(*r, FaultOp::kSync, pack);
  return base_->Sync(pack);
}

}  // namespace ciuicfs
