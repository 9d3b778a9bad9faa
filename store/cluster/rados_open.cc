#include "store/cluster/rados_open.h"

#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#ifdef CIUICFS_HAVE_RADOS
#include "store/cluster/rados_commit_objects.h"
#include "store/cluster/rados_leases.h"
#include "store/pack/rados_backend.h"
#endif
#include "store/open.h"

namespace ciuicfs {
namespace {

constexpr char kFileName[] = "RADOS";

bool GoodName(const std::string& s) {
  if (s.empty() || s.size() > 64 || s[0] == '.' || s[0] == '-') return false;
  for (char c : s)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

}  // namespace

Result<std::optional<RadosCacheFile>> ReadRadosCacheFile(const std::string& dir) {
  const std::string path = dir + "/" + kFileName;
  std::ifstream in(path);
  if (!in) {
    if (errno == ENOENT) return std::optional<RadosCacheFile>();
    return Status::FromErrno(errno, "open " + path);
  }
  RadosCacheFile f;
  if (!std::getline(in, f.uri) || !std::getline(in, f.ceph_conf) || !std::getline(in, f.user) ||
      f.uri.rfind("rados:", 0) != 0)
    return Status::Corruption(path + " is damaged (want three lines: rados:POOL/NAME, the Ceph configuration, the user)");
  return std::optional<RadosCacheFile>(f);
}

Status ClaimRadosCache(const std::string& dir, const RadosCacheFile& want) {
  auto have = ReadRadosCacheFile(dir);
  if (!have.ok()) return have.status();
  if (*have) {
    if ((*have)->uri != want.uri)
      return Status::InvalidArgument(dir + " is the cache of " + (*have)->uri + ", not of " + want.uri +
                                     " (give another --cache)");
    return Status::Ok();
  }
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::FromErrno(errno, "create " + dir);
  return WriteFileDurably(dir, kFileName, want.uri + "\n" + want.ceph_conf + "\n" + want.user + "\n");
}

Result<RadosStoreParts> ConnectRadosStore(const RadosCacheFile& store) {
  auto uri = ParseStoreUri(store.uri);
  if (!uri.ok()) return uri.status();
  if (!GoodName(uri->name) || !GoodName(uri->pool))
    return Status::InvalidArgument("bad store '" + store.uri + "': POOL and NAME are 1-64 of [A-Za-z0-9._-]");
#ifdef CIUICFS_HAVE_RADOS
  RadosTarget target{uri->pool, uri->name, store.ceph_conf, store.user.empty() ? "admin" : store.user};
  auto conn = RadosConnection::Connect(target);
  if (!conn.ok()) return conn.status();
  RadosStoreParts parts;
  parts.packs = std::make_unique<RadosPackBackend>(*conn);
  parts.commits = std::make_unique<RadosCommitObjects>(*conn);
  parts.leases = std::make_unique<RadosLeases>(*conn);
  return parts;
#else
  return Status::InvalidArgument("store " + store.uri + ": this build of ciuicfs has no RADOS support (librados)");
#endif
}

Result<std::optional<RadosAttached>> AttachRadosStore(const RadosOpen& open) {
  auto found = ReadRadosCacheFile(open.dir);
  if (!found.ok()) return found.status();
  std::optional<RadosCacheFile> cache = *found;
  if (open.named) {
    if (*found && (*found)->uri != open.location)
      return Status::InvalidArgument(open.dir + " is the cache of " + (*found)->uri + ", not of " + open.location +
                                     " (give another --cache)");
    if (!*found && open.dir_is_store)
      return Status::InvalidArgument(open.dir + " is a local store, not a cache (give another --cache)");
    cache = RadosCacheFile{open.location, open.ceph_conf, open.ceph_user};
    if (*found && open.ceph_conf.empty()) cache->ceph_conf = (*found)->ceph_conf;
  }
  if (!cache) return std::optional<RadosAttached>();
  auto connected = ConnectRadosStore(*cache);
  if (!connected.ok()) return connected.status();
  if (open.named && !open.read_only) CIUIC_RETURN_IF_ERROR(ClaimRadosCache(open.dir, *cache));
  return std::optional<RadosAttached>(RadosAttached{*cache, std::move(connected.value())});
}

}  // namespace ciuicfs
