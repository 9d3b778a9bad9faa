#include "fs/ui/store_access.h"

#include <cstdio>
#include <cstdlib>

#include "fs/cli/control.h"
#include "fs/cli/mounts.h"

namespace ciuicfs::ui {
namespace {

using Clock = std::chrono::steady_clock;

// What `fn` printed through Out() and Err() (OpenTarget's one line), with
// a context that has no store of its own, so the store is opened as named.
template <typename Fn>
std::string Capturing(Fn&& fn) {
  char* buf = nullptr;
  size_t len = 0;
  cli::CommandContext ctx;
  ctx.out = ctx.err = open_memstream(&buf, &len);
  const cli::CommandContext* outer = cli::CurrentContext();
  cli::SetCommandContext(&ctx);
  fn();
  cli::SetCommandContext(outer);
  std::fclose(ctx.out);
  std::string text(buf, len);
  std::free(buf);
  return text;
}

std::string LastLine(std::string text) {
  while (!text.empty() && text.back() == '\n') text.pop_back();
  size_t nl = text.rfind('\n');
  if (nl != std::string::npos) text = text.substr(nl + 1);
  if (text.rfind("ciuicfs: ", 0) == 0) text = text.substr(9);
  return text;
}

}  // namespace

std::string CommandAnswer::ErrorLine() const {
  std::string line = LastLine(err);
  return line.empty() ? "the command failed (exit " + std::to_string(code) + ")" : line;
}

std::unique_ptr<StoreAccess> StoreAccess::Open(const std::string& where, std::string* error) {
  std::optional<cli::Target> t;
  std::string printed = Capturing([&] { t = cli::OpenTarget(where, false); });
  if (!t) {
    *error = LastLine(printed);
    return nullptr;
  }
  std::unique_ptr<StoreAccess> access(new StoreAccess());
  access->store_dir_ = t->store_dir;
  access->mountpoint_ = t->mountpoint;
  // Later opens name what this one found, so they do not depend on the
  // current directory: the mountpoint, else the store (a URI stays one).
  access->where_ = !t->mountpoint.empty() ? t->mountpoint : where.rfind("rados:", 0) == 0 ? where : t->store_dir;
  access->current_ = std::make_shared<cli::Target>(std::move(*t));
  access->opened_at_ = access->last_used_ = Clock::now();
  access->closer_ = std::thread([a = access.get()] { a->CloseWhenIdle(); });
  return access;
}

StoreAccess::~StoreAccess() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (closer_.joinable()) closer_.join();
}

void StoreAccess::CloseWhenIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(500));
    if (current_ && readers_ == 0 && !changing_ && Clock::now() - last_used_ > std::chrono::seconds(2))
      current_.reset();
  }
}

std::shared_ptr<const cli::Target> StoreAccess::Read(std::string* error) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !changing_; });
  const auto now = Clock::now();
  if (readers_ == 0 && (!current_ || stale_ || now - opened_at_ > std::chrono::seconds(1))) {
    current_.reset();  // first: never two opens of the index at once
    std::optional<cli::Target> t;
    std::string printed = Capturing([&] { t = cli::OpenTarget(where_, false); });
    if (!t) {
      *error = LastLine(printed);
      return nullptr;
    }
    current_ = std::make_shared<cli::Target>(std::move(*t));
    opened_at_ = now;
    stale_ = false;
  }
  if (!current_) {  // held by readers and yet gone: cannot happen, but say so
    *error = "the store is not open";
    return nullptr;
  }
  ++readers_;
  std::shared_ptr<cli::Target> keep = current_;
  return std::shared_ptr<const cli::Target>(keep.get(), [this, keep](const cli::Target*) {
    std::lock_guard<std::mutex> lock(mu_);
    --readers_;
    last_used_ = Clock::now();
    cv_.notify_all();
  });
}

CommandAnswer StoreAccess::Run(const cli::Target& view, const std::vector<std::string>& args) {
  cli::CommandContext ctx;
  ctx.store = view.store;
  ctx.store_dir = view.store_dir;
  const std::string branch = view.branch;
  ctx.mount.branch = [branch] { return branch; };
  CommandAnswer a;
  a.code = cli::RunCaptured(ctx, args, &a.out, &a.err);
  return a;
}

CommandAnswer StoreAccess::Change(const std::vector<std::string>& args) {
  CommandAnswer a;
  if (!mountpoint_.empty()) {  // the mount's daemon runs it, with its store and hooks
    std::optional<cli::MountEntry> mount = cli::FindMount(store_dir_, mountpoint_);
    if (!mount) {
      a.err = "ciuicfs: " + mountpoint_ + " is not mounted now (no daemon answers for it)\n";
      return a;
    }
    a.code = cli::CallDaemon(cli::MountSocketPath(store_dir_, mount->pid), args, &a.out, &a.err);
  } else {  // a store not mounted: a writable open for this command alone
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(30), [&] { return !changing_ && readers_ == 0; })) {
      a.err = "ciuicfs: the store is busy with another request (a download?); try again\n";
      return a;
    }
    changing_ = true;
    current_.reset();
    lock.unlock();
    std::optional<cli::Target> t;
    std::string printed = Capturing([&] { t = cli::OpenTarget(where_, true); });
    if (!t) {
      a.err = printed;
    } else {
      cli::CommandContext ctx;
      ctx.store = t->store;
      ctx.store_dir = t->store_dir;
      a.code = cli::RunCaptured(ctx, args, &a.out, &a.err);
    }
    t.reset();  // closed before any read opens it again
    lock.lock();
    changing_ = false;
    cv_.notify_all();
  }
  std::lock_guard<std::mutex> lock(mu_);
  stale_ = true;
  return a;
}

}  // namespace ciuicfs::ui
