#include "store/cluster/lease.h"

#include <time.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <random>

#include "store/base/chunk_id.h"
#include "store/base/coding.h"
#include "store/base/log.h"

namespace ciuicfs {
namespace {

constexpr std::string_view kMagic = "CIUICLS1";

uint64_t NewNodeId() {
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) id = (uint64_t(rd()) << 32) ^ rd();
  return id;
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "?";
  return buf;
}

}  // namespace

std::string Lease::Who() const {
  return "node " + Hex16(node) + " (host " + host + ", pid " + std::to_string(pid) + ")";
}

std::string EncodeLease(const Lease& l) {
  std::string out(kMagic);
  PutLE<uint64_t>(&out, l.node);
  PutLE<uint64_t>(&out, l.renewal);
  PutLE<uint64_t>(&out, l.applied);
  PutLE<uint64_t>(&out, l.holds_from);
  PutLE<uint64_t>(&out, l.grace_ms);
  PutLE<uint32_t>(&out, uint32_t(l.packs_in_use.size()));
  for (uint32_t p : l.packs_in_use) PutLE<uint32_t>(&out, p);
  PutLE<uint64_t>(&out, uint64_t(l.written_ns));
  PutLE<uint32_t>(&out, uint32_t(l.host.size()));
  out.append(l.host);
  PutLE<uint32_t>(&out, l.pid);
  SealFrame(&out);
  return out;
}

bool DecodeLease(std::string_view bytes, Lease* l) {
  const auto body = FrameBody(bytes, kMagic);
  if (!body) return false;
  Decoder in(*body);
  l->node = in.LE<uint64_t>();
  l->renewal = in.LE<uint64_t>();
  l->applied = in.LE<uint64_t>();
  l->holds_from = in.LE<uint64_t>();
  l->grace_ms = in.LE<uint64_t>();
  const uint32_t packs = in.LE<uint32_t>();
  l->packs_in_use.clear();
  for (uint32_t i = 0; i < packs && in.ok(); ++i) l->packs_in_use.push_back(in.LE<uint32_t>());
  l->written_ns = int64_t(in.LE<uint64_t>());
  const uint32_t host = in.LE<uint32_t>();
  l->host = std::string(in.Bytes(host));
  l->pid = in.LE<uint32_t>();
  return in.done();
}

LeaseKeeper::LeaseKeeper(LeaseTable* table, std::function<Result<Lease>()> fill, LeaseTiming timing,
                         std::function<void()> after_lapse)
    : table_(table), fill_(std::move(fill)), after_lapse_(std::move(after_lapse)), timing_(timing), node_(NewNodeId()) {}

LeaseKeeper::~LeaseKeeper() {
  bool started;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    started = thread_.joinable();
  }
  cv_.notify_all();
  if (!started) return;
  thread_.join();
  // A clean close: nothing of this node is held any more.
  Status s = table_->Remove(node_);
  if (!s.ok()) LogLine("removing this node's lease from " + table_->Name() + ": " + s.message());
}

int64_t LeaseKeeper::BootNs() {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

Result<Lease> LeaseKeeper::Now() {
  auto l = fill_();
  if (!l.ok()) return l.status();
  l->node = node_;
  l->grace_ms = uint64_t(timing_.grace.count());
  l->written_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  l->host = HostName();
  l->pid = uint32_t(getpid());
  return l;
}

Status LeaseKeeper::Renew() {
  auto l = Now();
  if (!l.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = l.status();
    return l.status();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    l->renewal = ++renewal_;
  }
  Status s = table_->Put(node_, EncodeLease(*l));
  bool lapsed = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = s;
    if (!s.ok()) return s;
    lapsed = last_ok_ns_ != 0 && BootNs() - last_ok_ns_ >= int64_t(timing_.grace.count()) * 1000000 / 2;
    if (!lapsed) last_ok_ns_ = BootNs();
  }
  if (lapsed) {
    // Healthy() fails until this is done: a commit that passes it after
    // this sees what the node held through the lapse as stale.
    LogLine("this node's lease in " + table_->Name() +
            " is renewed again after it lapsed; the saves that were in progress fail");
    if (after_lapse_) after_lapse_();
    std::lock_guard<std::mutex> lock(mu_);
    last_ok_ns_ = BootNs();
  }
  return s;
}

Status LeaseKeeper::Start() {
  CIUIC_RETURN_IF_ERROR(Renew());
  std::lock_guard<std::mutex> lock(mu_);
  thread_ = std::thread([this] {
    std::string logged;
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, timing_.renew, [this] { return stop_; })) {
      lock.unlock();
      Status s = Renew();
      if (!s.ok() && s.message() != logged) LogLine("renewing this node's lease in " + table_->Name() + ": " + s.message());
      logged = s.ok() ? std::string() : s.message();
      lock.lock();
    }
  });
  return Status::Ok();
}

Status LeaseKeeper::Healthy() const {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t age_ns = BootNs() - last_ok_ns_;
  if (last_ok_ns_ != 0 && age_ns < int64_t(timing_.grace.count()) * 1000000 / 2) return Status::Ok();
  const long secs = long(age_ns / 1000000000);
  return Status::IOError("this node's lease in " + table_->Name() + " lapsed (not renewed for " + std::to_string(secs) +
                         " s" + (last_error_.ok() ? std::string() : ": " + last_error_.message()) +
                         "): other nodes may take it for dead and collect what its saves hold; no commit "
                         "until it is renewed, and the saves in progress now fail then");
}

}  // namespace ciuicfs
