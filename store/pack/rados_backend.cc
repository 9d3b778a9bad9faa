#include "store/pack/rados_backend.h"

#include <rados/librados.hpp>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <system_error>

namespace ciuicfs {

Result<std::unique_ptr<RadosPackBackend>> RadosPackBackend::Connect(const RadosTarget& target, size_t max_write) {
  auto c = RadosConnection::Connect(target);
  if (!c.ok()) return c.status();
  return std::make_unique<RadosPackBackend>(std::move(c.value()), max_write);
}

RadosPackBackend::RadosPackBackend(std::shared_ptr<RadosConnection> cluster, size_t max_write)
    : cluster_(std::move(cluster)), target_(cluster_->target), max_write_(std::max<size_t>(1, max_write)) {}

RadosPackBackend::~RadosPackBackend() = default;

std::string RadosPackBackend::Object(uint32_t pack) const {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%08" PRIx32, pack);
  return target_.name + ".pack." + buf;
}

std::string RadosPackBackend::Name(uint32_t pack) const { return "rados:" + target_.pool + "/" + Object(pack); }

Status RadosPackBackend::Error(int r, const std::string& what) const { return Status::FromErrno(-r, what); }

Status RadosPackBackend::Create(uint32_t pack) {
  int r = cluster_->Run([&](librados::IoCtx& io) { return io.create(Object(pack), true); });
  return r < 0 ? Error(r, "create " + Name(pack)) : Status::Ok();
}

Status RadosPackBackend::Append(uint32_t pack, uint64_t offset, const struct iovec* pieces, int count) {
  const std::string oid = Object(pack);
  uint64_t at = offset;
  librados::bufferlist bl;
  auto flush = [&]() -> int {
    if (bl.length() == 0) return 0;
    int r = cluster_->Run([&](librados::IoCtx& io) { return io.write(oid, bl, bl.length(), at); });
    if (r >= 0) at += bl.length();
    bl.clear();
    return r;
  };
  int r = 0;
  for (int k = 0; k < count && r >= 0; ++k) {
    const char* p = static_cast<const char*>(pieces[k].iov_base);
    size_t left = pieces[k].iov_len;
    while (left > 0 && r >= 0) {
      size_t take = std::min(left, max_write_ - bl.length());
      bl.append(p, unsigned(take));
      p += take;
      left -= take;
      if (bl.length() == max_write_) r = flush();
    }
  }
  if (r >= 0) r = flush();
  if (r >= 0) return Status::Ok();
  // Whole or nothing: what the pieces before the failure wrote goes.
  if (at > offset) cluster_->Run([&](librados::IoCtx& io) { return io.trunc(oid, offset); });
  return Error(r, "append to " + Name(pack) + " at " + std::to_string(offset));
}

Status RadosPackBackend::ReadAt(uint32_t pack, uint64_t offset, void* dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    librados::bufferlist bl;
    const size_t want = std::min(n - done, max_write_);
    int r = cluster_->Run([&](librados::IoCtx& io) { return io.read(Object(pack), bl, want, offset + done); });
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
  uint64_t size = 0;
  time_t mtime = 0;
  int r = cluster_->Run([&](librados::IoCtx& io) { return io.stat(Object(pack), &size, &mtime); });
  if (r < 0) return Error(r, "stat " + Name(pack));
  return size;
}

Status RadosPackBackend::Truncate(uint32_t pack, uint64_t size) {
  int r = cluster_->Run([&](librados::IoCtx& io) { return io.trunc(Object(pack), size); });
  return r < 0 ? Error(r, "truncate " + Name(pack)) : Status::Ok();
}

Status RadosPackBackend::Remove(uint32_t pack) {
  int r = cluster_->Run([&](librados::IoCtx& io) { return io.remove(Object(pack)); });
  return r < 0 && r != -ENOENT ? Error(r, "remove " + Name(pack)) : Status::Ok();
}

Result<std::vector<uint32_t>> RadosPackBackend::List() {
  const std::string prefix = target_.name + ".pack.";
  std::vector<uint32_t> out;
  std::string failed;
  const int r = cluster_->Run([&](librados::IoCtx& io) {
    out.clear();
    try {
      for (auto it = io.nobjects_begin(); it != io.nobjects_end(); ++it) {
        const std::string& oid = it->get_oid();
        if (oid.size() != prefix.size() + 8 || oid.compare(0, prefix.size(), prefix) != 0) continue;
        char* end = nullptr;
        unsigned long n = std::strtoul(oid.c_str() + prefix.size(), &end, 16);
        if (end == oid.c_str() + oid.size()) out.push_back(uint32_t(n));
      }
    } catch (const std::system_error& e) {  // librados' iterators throw on failure
      failed = e.what();
      return e.code().value() > 0 ? -e.code().value() : -EIO;
    } catch (const std::exception& e) {
      failed = e.what();
      return -EIO;
    }
    return 0;
  });
  if (r < 0) return Status::IOError("list the packs of rados:" + target_.pool + "/" + target_.name + ": " + failed);
  std::sort(out.begin(), out.end());
  return out;
}

Result<uint64_t> RadosPackBackend::Sync(uint32_t pack) { return Size(pack); }

}  // namespace ciuicfs
