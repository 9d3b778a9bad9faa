#include "store/cluster/rados_leases.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "store/base/coding.h"

namespace ciuicfs {
namespace {

std::string Key(uint64_t node) { return Hex16(node); }

}  // namespace

std::string RadosLeases::RemoveCommand(uint64_t node) const {
  return "rados -p " + cluster_->target.pool + " rmomapkey " + Object() + " " + Key(node);
}

std::string RadosLeases::Name() const { return "rados:" + cluster_->target.pool + "/" + Object(); }

Status RadosLeases::Put(uint64_t node, std::string_view bytes) {
  librados::bufferlist bl;
  bl.append(bytes.data(), unsigned(bytes.size()));
  librados::ObjectWriteOperation op;
  op.omap_set({{Key(node), bl}});
  int r = cluster_->Run([&](librados::IoCtx& io) { return io.operate(Object(), &op); });
  return r < 0 ? Status::FromErrno(-r, "write lease " + Key(node) + " in " + Name()) : Status::Ok();
}

Result<std::map<uint64_t, std::string>> RadosLeases::List() {
  std::map<uint64_t, std::string> out;
  std::string after;
  for (bool more = true; more;) {
    std::map<std::string, librados::bufferlist> vals;
    int rval = 0;
    librados::ObjectReadOperation op;
    op.omap_get_vals2(after, 1024, &vals, &more, &rval);
    int r = cluster_->Run([&](librados::IoCtx& io) { return io.operate(Object(), &op, nullptr); });
    if (r == -ENOENT) return out;  // no node ever took a lease
    if (r < 0) return Status::FromErrno(-r, "read the leases in " + Name());
    if (rval < 0) return Status::FromErrno(-rval, "read the leases in " + Name());
    for (auto& [key, bl] : vals) {
      char* end = nullptr;
      const uint64_t node = std::strtoull(key.c_str(), &end, 16);
      if (key.size() != 16 || end != key.c_str() + key.size())
        return Status::Corruption(Name() + " has a key that is no node id: '" + key + "'");
      out[node] = bl.to_str();
      after = key;
    }
    if (vals.empty()) break;
  }
  return out;
}

Status RadosLeases::Remove(uint64_t node) {
  librados::ObjectWriteOperation op;
  op.omap_rm_keys(std::set<std::string>{Key(node)});
  int r = cluster_->Run([&](librados::IoCtx& io) { return io.operate(Object(), &op); });
  if (r == -ENOENT) return Status::Ok();
  return r < 0 ? Status::FromErrno(-r, "remove lease " + Key(node) + " from " + Name()) : Status::Ok();
}

}  // namespace ciuicfs
