#include "store/retention/keeper.h"

#include <chrono>

#include "store/base/log.h"
#include "store/store.h"

namespace ciuicfs {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kPoll = std::chrono::milliseconds(250);
constexpr auto kMinPassGap = std::chrono::seconds(1);
constexpr auto kQuietBeforeGc = std::chrono::seconds(2);
constexpr auto kMaxGcGap = std::chrono::seconds(60);
constexpr auto kGcRetry = std::chrono::seconds(3);

}  // namespace

Result<RetentionInput> LoadRetentionInput(Store* store) {
  RetentionInput in;
  auto branches = store->Branches();
  if (!branches.ok()) return branches.status();
  in.heads = *branches;
  for (const auto& [name, head] : *branches) {
    auto line = store->BranchLine(name);
    if (!line.ok()) return line.status();
    in.lines[name] = std::move(*line);
  }
  auto tags = store->Tags();
  if (!tags.ok()) return tags.status();
  for (const auto& [name, seq] : *tags) in.tagged.insert(seq);
  auto all = store->ListSnapshots();
  if (!all.ok()) return all.status();
  in.all = std::move(*all);
  return in;
}

RetentionKeeper::RetentionKeeper(Store* store, RetentionPolicy policy) : store_(store), policy_(std::move(policy)) {
  thread_ = std::thread([this] { Loop(); });
}

RetentionKeeper::~RetentionKeeper() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

RetentionPolicy RetentionKeeper::policy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return policy_;
}

void RetentionKeeper::SetPolicy(const RetentionPolicy& p) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    policy_ = p;
    changed_ = true;
  }
  cv_.notify_all();
}

KeeperStats RetentionKeeper::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

Result<uint64_t> RetentionKeeper::Apply(const RetentionPolicy& p) {
  auto in = LoadRetentionInput(store_);
  if (!in.ok()) return in.status();
  std::vector<uint64_t> drop = SelectDrops(p, *in);
  if (drop.empty()) return uint64_t(0);
  CIUIC_RETURN_IF_ERROR(store_->DropSnapshots(drop));
  return uint64_t(drop.size());
}

// What the store's background work has still to do; all 0 when the store
// cannot say. Each ingested or re-encoded record of a dropped version is
// dead in the packs until the next gc.
static BackgroundWork Waiting(Store* store) {
  auto w = store->Waiting();
  return w.ok() ? *w : BackgroundWork{};
}

void RetentionKeeper::Loop() {
  std::map<std::string, uint64_t> seen_heads;
  Clock::time_point last_pass{}, last_commit = Clock::now(), last_gc = Clock::now();
  uint64_t dropped_since_gc = 0;
  bool pending = true;  // a pass is due: the heads moved or the policy changed
  bool retry_gc = false;  // the last gc left a backlog
  BackgroundWork backlog_at_gc;
  Clock::time_point last_backlog_look{};
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    // Without a policy and with no gc owed, nothing to watch: sleep until
    // one is set, so an idle mount polls nothing.
    if (policy_.empty() && dropped_since_gc == 0 && !retry_gc)
      cv_.wait(lock, [&] { return stop_ || changed_; });
    else
      cv_.wait_for(lock, kPoll, [&] { return stop_ || changed_; });
    if (stop_) break;
    const RetentionPolicy p = policy_;
    if (changed_) {
      pending = true;
      last_pass = {};  // a new policy applies at once
    }
    changed_ = false;
    lock.unlock();
    const auto now = Clock::now();
    std::string error;
    bool attempted = false;  // a pass or a gc ran this time
    auto heads = store_->Branches();
    if (heads.ok() && *heads != seen_heads) {
      seen_heads = *heads;
      last_commit = now;
      pending = true;
    }
    if (pending && !p.empty() && now - last_pass >= kMinPassGap) {
      pending = false;
      attempted = true;
      last_pass = now;
      auto n = Apply(p);
      if (!n.ok()) error = "retention: " + n.status().message();
      else dropped_since_gc += *n;
      std::lock_guard<std::mutex> relock(mu_);
      ++stats_.passes;
      if (n.ok()) stats_.dropped += *n;
    }
    // gc once saves pause, or at least every kMaxGcGap. What the
    // background ingest and re-encoding write into packs after a gc, of
    // versions already dropped, is dead until the next gc: so while the
    // last gc left them work, look every kGcRetry and gc again once the
    // work has moved, until a gc finds none left. (Work that stood still
    // for one look is not done: on a loaded machine one version's ingest
    // can outlast it.)
    bool due = dropped_since_gc > 0 && (now - last_commit >= kQuietBeforeGc || now - last_gc >= kMaxGcGap);
    if (!due && retry_gc && now - last_backlog_look >= kGcRetry) {
      last_backlog_look = now;
      due = Waiting(store_) != backlog_at_gc;
    }
    if (due) {
      last_gc = now;
      attempted = true;
      auto gc = store_->Gc(GcOptions{});
      if (gc.ok()) {
        dropped_since_gc = 0;
        backlog_at_gc = Waiting(store_);
        retry_gc = backlog_at_gc != BackgroundWork{};
        last_backlog_look = now;
        std::lock_guard<std::mutex> relock(mu_);
        ++stats_.gc_runs;
        if (gc->bytes_before > gc->bytes_after) stats_.bytes_freed += gc->bytes_before - gc->bytes_after;
      } else if (gc.status().code() != Status::Code::kBusy) {
        error = "retention: gc: " + gc.status().message();
      }
    }
    if (!error.empty()) LogLine(error);
    lock.lock();
    if (attempted) stats_.last_error = error;
  }
}

}  // namespace ciuicfs
