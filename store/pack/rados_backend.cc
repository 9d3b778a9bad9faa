#include "store/pack/rados_backend.h"

#include <rados/librados.hpp>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <algorithm>

namespace ciuicfs {

RadosConnection::~RadosConnection() {
  io.close();
  if (connected) rados.shutdown();
}

Result<std::shared_ptr<RadosConnection>> RadosConnection::Connect(const RadosTarget& target) {
  auto c = std::make_shared<RadosConnection>();
  c->target = target;
  const std::string where = target.Uri();
  int r = c->rados.init2(("client." + target.user).c_str(), "ceph", 0);
  if (r < 0) return Status::FromErrno(-r, where + ": cannot set up a RADOS client");
  r = target.ceph_conf.empty() ? c->rados.conf_read_file(nullptr) : c->rados.conf_read_file(target.ceph_conf.c_str());
  if (r < 0)
    return Status::FromErrno(-r, where + ": cannot read the Ceph configuration" +
                                     (target.ceph_conf.empty() ? std::string() : " " + target.ceph_conf));
  c->rados.conf_parse_env(nullptr);
  // A cluster that does not answer is an error in seconds, not a hang.
  c->rados.conf_set("client_mount_timeout", "10");
  c->rados.conf_set("rados_mon_op_timeout", "10");
  // An OSD that stays away fails the save with a clear error after a
  // minute; a shorter absence only holds it back.
  c->rados.conf_set("rados_osd_op_timeout", "60");
  r = c->rados.connect();
  if (r < 0) return Status::FromErrno(-r, where + ": cannot connect to the Ceph cluster");
  c->connected = true;
  r = c->rados.ioctx_create(target.pool.c_str(), c->io);
  if (r < 0) return Status::FromErrno(-r, where + ": cannot open pool " + target.pool);
  return c;
}

Result<std::unique_ptr<RadosPackBackend>> RadosPackBackend::Connect(const RadosTarget& target, size_t max_write) {
  auto c = RadosConnection::Connect(target);
  if (!c.ok()) return c.status();
  return std::make_unique<RadosPackBackend>(std::move(c.value()), max_write);
}

RadosPackBackend::RadosPackBackend(std::shared_ptr<RadosConnection> cluster, size_t max_write)
    : cluster_(std::move(cluster)), target_(cluster_->target), max_write_(std::max<size_t>(1, max_write)) {}

struct RadosPackBackend::InFlight {
  librados::AioCompletion* done = nullptr;
  uint64_t offset = 0;
  size_t n = 0;
};

RadosPackBackend::~RadosPackBackend() {
  std::vector<uint32_t> packs;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [pack, q] : in_flight_) packs.push_back(pack);
  }
  for (uint32_t pack : packs) (void)Drain(pack);
}

std::string RadosPackBackend::Object(uint32_t pack) const {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08" PRIx32, pack);
  return target_.name + ".pack." + buf;
}

std::string RadosPackBackend::Name(uint32_t pack) const { return "rados:" + target_.pool + "/" + Object(pack); }

Status RadosPackBackend::Error(int r, const std::string& what) const { return Status::FromErrno(-r, what); }

Status RadosPackBackend::Drain(uint32_t pack) {
  std::deque<InFlight*> q;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = in_flight_.find(pack);
    if (it != in_flight_.end()) q.swap(it->second);
  }
  Status first;
  for (InFlight* w : q) {
    w->done->wait_for_complete();
    const int r = w->done->get_return_value();
    if (r < 0 && first.ok())
      first = Error(r, "append to " + Name(pack) + " at " + std::to_string(w->offset));
    w->done->release();
    delete w;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!first.ok()) failed_.emplace(pack, first);
  auto f = failed_.find(pack);
  return f == failed_.end() ? Status::Ok() : f->second;
}

Status RadosPackBackend::Create(uint32_t pack) {
  int r = cluster_->io.create(Object(pack), true);
  return r < 0 ? Error(r, "create " + Name(pack)) : Status::Ok();
}

Status RadosPackBackend::Append(uint32_t pack, uint64_t offset, const struct iovec* pieces, int count) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto f = failed_.find(pack);
    if (f != failed_.end()) return f->second;
  }
  const std::string oid = Object(pack);
  uint64_t at = offset;
  librados::bufferlist bl;
  auto send = [&]() -> Status {
    if (bl.length() == 0) return Status::Ok();
    auto* w = new InFlight{librados::Rados::aio_create_completion(), at, bl.length()};
    int r = cluster_->io.aio_write(oid, w->done, bl, bl.length(), at);
    if (r < 0) {
      w->done->release();
      delete w;
      return Error(r, "append to " + Name(pack) + " at " + std::to_string(at));
    }
    at += bl.length();
    bl.clear();
    InFlight* oldest = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto& q = in_flight_[pack];
      q.push_back(w);
      if (q.size() > kMaxInFlight) {
        oldest = q.front();
        q.pop_front();
      }
    }
    if (!oldest) return Status::Ok();
    oldest->done->wait_for_complete();  // at most kMaxInFlight writes of a pack outstanding
    const int rr = oldest->done->get_return_value();
    const uint64_t where = oldest->offset;
    oldest->done->release();
    delete oldest;
    if (rr >= 0) return Status::Ok();
    Status s = Error(rr, "append to " + Name(pack) + " at " + std::to_string(where));
    std::lock_guard<std::mutex> lock(mu_);
    failed_.emplace(pack, s);
    return s;
  };
  Status s;
  for (int k = 0; k < count && s.ok(); ++k) {
    const char* p = static_cast<const char*>(pieces[k].iov_base);
    size_t left = pieces[k].iov_len;
    while (left > 0 && s.ok()) {
      size_t take = std::min(left, max_write_ - bl.length());
      bl.append(p, unsigned(take));
      p += take;
      left -= take;
      if (bl.length() == max_write_) s = send();
    }
  }
  if (s.ok()) s = send();
  if (s.ok()) return Status::Ok();
  // Whole or nothing: what was sent of this append goes, once it landed.
  (void)Drain(pack);
  if (at > offset) cluster_->io.trunc(oid, offset);
  std::lock_guard<std::mutex> lock(mu_);
  failed_.emplace(pack, s);
  return s;
}

Status RadosPackBackend::ReadAt(uint32_t pack, uint64_t offset, void* dst, size_t n) {
  CIUIC_RETURN_IF_ERROR(Drain(pack));
  size_t done = 0;
  while (done < n) {
    librados::bufferlist bl;
    const size_t want = std::min(n - done, max_write_);
    int r = cluster_->io.read(Object(pack), bl, want, offset + done);
    if (r < 0) return Error(r, "read " + Name(pack) + " at " + std::to_string(offset + done));
    if (r == 0)
      return Status::Corruption("read " + Name(pack) + " at " + std::to_string(offset) + ": " + std::to_string(n) +
                                " bytes wanted, the object ends first");
    bl.begin().copy(unsigned(r), static_cast<char*>(dst) + done);
    done += size_t(r);
  }
  return Status::Ok();
}

Result<uint64_t> RadosPackBackend::Size(uint32_t pack) {
  CIUIC_RETURN_IF_ERROR(Drain(pack));
  uint64_t size = 0;
  time_t mtime = 0;
  int r = cluster_->io.stat(Object(pack), &size, &mtime);
  if (r < 0) return Error(r, "stat " + Name(pack));
  return size;
}

Status RadosPackBackend::Truncate(uint32_t pack, uint64_t size) {
  (void)Drain(pack);  // a cut after a failure is the way back
  int r = cluster_->io.trunc(Object(pack), size);
  return r < 0 ? Error(r, "truncate " + Name(pack)) : Status::Ok();
}

Status RadosPackBackend::Remove(uint32_t pack) {
  (void)Drain(pack);
  {
    std::lock_guard<std::mutex> lock(mu_);
    failed_.erase(pack);
  }
  int r = cluster_->io.remove(Object(pack));
  return r < 0 && r != -ENOENT ? Error(r, "remove " + Name(pack)) : Status::Ok();
}

Result<std::vector<uint32_t>> RadosPackBackend::List() {
  const std::string prefix = target_.name + ".pack.";
  std::vector<uint32_t> out;
  try {
    for (auto it = cluster_->io.nobjects_begin(); it != cluster_->io.nobjects_end(); ++it) {
      const std::string& oid = it->get_oid();
      if (oid.size() != prefix.size() + 8 || oid.compare(0, prefix.size(), prefix) != 0) continue;
      char* end = nullptr;
      unsigned long n = std::strtoul(oid.c_str() + prefix.size(), &end, 16);
      if (end == oid.c_str() + oid.size()) out.push_back(uint32_t(n));
    }
  } catch (const std::exception& e) {
    return Status::IOError("list the packs of rados:" + target_.pool + "/" + target_.name + ": " + e.what());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<uint64_t> RadosPackBackend::Sync(uint32_t pack) { return Size(pack); }

}  // namespace ciuicfs
