// The JSON API behind the page of `ciuicfs ui` (fs/ui/README.md, "Routes").
// Each call answers one request from the store as the commands see it: the
// reads run `log`, `show`, `diff` and `stats` with --json on a read-only
// open, the changes run `tag`, `rollback` and `prune` where the command line
// would (StoreAccess::Change). Every REF is resolved first, so a bad one is a
// 4xx and nothing runs. The HTTP side (server.h) has checked the token and
// the origin before any call. Thread-safe.
#ifndef CIUICFS_FS_UI_API_H_
#define CIUICFS_FS_UI_API_H_

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>
#include <string>

#include "fs/ui/store_access.h"

namespace ciuicfs::ui {

struct Reply {
  int status = 200;
  std::string body;  // JSON: the answer, or {"error":"<one line>"}
};
Reply ErrorReply(int status, const std::string& message);

// A file of a snapshot's tree, ready to stream.
struct FileDownload {
  Reply error;       // status != 200: nothing to stream
  std::string name;  // the path's last component
  uint64_t size = 0;
  std::shared_ptr<const cli::Target> view;  // keeps the store open while it streams
  std::unique_ptr<VersionReader> reader;    // one reader, used by one thread
};

class Api {
 public:
  explicit Api(StoreAccess* access) : access_(access) {}

  // Every snapshot (`log --all --json`, oldest first) with its bytes in
  // files, saved and new after dedup, the branches, the edges of the graph
  // and `stats --json`.
  Reply Log();
  Reply Stats();                         // `stats --json`
  Reply Show(const std::string& ref);    // `show REF --json`
  Reply Diff(const std::string& a, const std::string& b, const std::string& path);  // `diff A B [PATH] --json`
  FileDownload File(const std::string& ref, const std::string& path);

  // POST bodies (JSON objects; an unknown key is a 400):
  Reply Tag(const std::string& body);       // {"name","ref"} or {"delete":NAME}
  Reply Rollback(const std::string& body);  // {"ref"}
  Reply Prune(const std::string& body);     // {"keep_last","keep_every_steps","keep_tagged","dry_run"}

 private:
  // The bytes of a tree's files (as `show` counts them), cached by tree id.
  Result<uint64_t> TreeBytes(Store* store, const Hash128& tree);
  // A version's chunks (id, raw length), cached once ingested; nullopt
  // while its bytes are still in an extent.
  using Chunks = std::vector<std::pair<ChunkId, uint64_t>>;
  Result<std::optional<std::shared_ptr<const Chunks>>> VersionChunks(Store* store, const VersionId& v);
  // Resolves `ref` on the store as it is now: its full id, else *error.
  bool ResolveNow(const std::string& ref, std::string* id, Reply* error);
  Reply ChangeReply(const std::vector<std::string>& args, bool json_out);

  StoreAccess* const access_;
  std::mutex mu_;
  std::map<Hash128, uint64_t> tree_bytes_;                        // guarded by mu_
  std::map<VersionId, std::shared_ptr<const Chunks>> chunks_;     // guarded by mu_
};

}  // namespace ciuicfs::ui

#endif  // CIUICFS_FS_UI_API_H_
