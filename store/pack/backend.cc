// The backend factory: a store's URI -> its PackBackend.
#include "store/pack/backend.h"

#include "store/pack/local_backend.h"

namespace ciuicfs {

Result<StoreUri> ParseStoreUri(std::string_view uri) {
  StoreUri out;
  if (uri.rfind("rados:", 0) == 0) {
    std::string_view rest = uri.substr(6);
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size())
      return Status::InvalidArgument("bad store '" + std::string(uri) + "': want rados:POOL/NAME");
    out.scheme = StoreUri::Scheme::kRados;
    out.pool = std::string(rest.substr(0, slash));
    out.name = std::string(rest.substr(slash + 1));
    return out;
  }
  if (uri.rfind("file:", 0) == 0) uri.remove_prefix(5);
  if (uri.empty()) return Status::InvalidArgument("empty store path");
  out.path = std::string(uri);
  return out;
}

Result<std::unique_ptr<PackBackend>> OpenPackBackend(const StoreUri& uri) {
  if (uri.scheme == StoreUri::Scheme::kRados)
    return Status::InvalidArgument("store rados:" + uri.pool + "/" + uri.name +
                                   ": this build of ciuicfs has no RADOS backend");
  return std::unique_ptr<PackBackend>(new LocalPackBackend(uri.path + "/packs"));
}

}  // namespace ciuicfs
