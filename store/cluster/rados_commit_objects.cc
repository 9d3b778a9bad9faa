#include "store/cluster/rados_commit_objects.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>

#include "store/base/coding.h"

namespace ciuicfs {

std::string RadosCommitObjects::Object(uint64_t n) const {
  return cluster_->target.name + ".commit." + Hex16(n);
}

std::string RadosCommitObjects::Name(uint64_t n) const { return "rados:" + cluster_->target.pool + "/" + Object(n); }

Result<bool> RadosCommitObjects::Create(uint64_t n, std::string_view bytes) {
  librados::ObjectWriteOperation op;
  op.create(true);
  librados::bufferlist bl;
  bl.append(bytes.data(), unsigned(bytes.size()));
  op.write_full(bl);
  int r = cluster_->Run([&](librados::IoCtx& io) { return io.operate(Object(n), &op); });
  if (r == -EEXIST) return false;
  if (r < 0) return Status::FromErrno(-r, "create " + Name(n));
  return true;
}

Result<std::string> RadosCommitObjects::Read(uint64_t n) {
  std::string out;
  for (;;) {  // an object is written whole: read until a short read
    librados::bufferlist bl;
    constexpr size_t kPiece = 16 << 20;
    int r = cluster_->Run([&](librados::IoCtx& io) { return io.read(Object(n), bl, kPiece, out.size()); });
    if (r == -ENOENT) return Status::NotFound(Name(n) + " does not exist");
    if (r < 0) return Status::FromErrno(-r, "read " + Name(n));
    out.append(bl.c_str(), size_t(r));
    if (size_t(r) < kPiece) return out;
  }
}

}  // namespace ciuicfs
