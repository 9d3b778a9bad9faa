// ExtentStore: the extent files of a store (FORMAT.md, "Extents"): a new
// extent for a file being written, reads of one, the syncs a durable
// commit needs, and removal. Local files only: the kernel writes into them
// directly when FUSE passthrough is on. Thread-safe.
#ifndef CIUICFS_STORE_EXTENT_EXTENT_STORE_H_
#define CIUICFS_STORE_EXTENT_EXTENT_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "store/base/status.h"

namespace ciuicfs {

class ExtentStore;

// An open descriptor shared by its readers; closed with the last of them.
class ExtentFd {
 public:
  explicit ExtentFd(int fd) : fd_(fd) {}
  ~ExtentFd();
  ExtentFd(const ExtentFd&) = delete;
  ExtentFd& operator=(const ExtentFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// One extent being written: the writer's descriptor (read and write). An
// extent takes writes until it is sealed; Seal (or the destructor) tells
// the store it may be ingested. Destroyed before any commit named it, its
// file is removed.
class ExtentWriter {
 public:
  ~ExtentWriter();
  ExtentWriter(const ExtentWriter&) = delete;
  ExtentWriter& operator=(const ExtentWriter&) = delete;
  uint32_t number() const { return number_; }
  int fd() const { return fd_->get(); }
  const std::shared_ptr<ExtentFd>& shared_fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // No more writes reach the file: it may be ingested once committed.
  void Seal();
  bool sealed() const { return sealed_; }

 private:
  friend class ExtentStore;
  ExtentWriter(ExtentStore* store, uint32_t number, std::string path, int fd);
  ExtentStore* store_;
  uint32_t number_;
  std::string path_;
  std::shared_ptr<ExtentFd> fd_;
  bool sealed_ = false;
};

class ExtentStore {
 public:
  // `dir`: the store directory; extents live in `dir`/extents.
  explicit ExtentStore(std::string dir);
  // Makes the folder and picks the next number: one past `highest_listed`
  // and every file present.
  Status Open(uint32_t highest_listed, bool read_only);
  // Called with an extent's number when it is sealed.
  void SetOnSealed(std::function<void(uint32_t)> fn);

  Result<std::unique_ptr<ExtentWriter>> Create();
  // NotFound when the file is gone (ingested and removed).
  Result<std::shared_ptr<ExtentFd>> OpenRead(uint32_t extent);
  Result<uint64_t> FileSize(uint32_t extent);
  std::string Name(uint32_t extent) const;  // "extents/0000002a.ext"
  std::string Path(uint32_t extent) const;

  // A commit named the extent: a durable commit must sync it.
  void NoteCommitted(uint32_t extent);
  // fdatasyncs the given extents and every committed one not synced yet,
  // then the folder when a file was created since its last fsync.
  Status SyncCommitted(const std::vector<uint32_t>& also);
  // The extent's bytes are elsewhere now (ingested) or nobody needs them.
  Status Remove(uint32_t extent);
  // The files present, by number.
  Result<std::vector<uint32_t>> List() const;
  // Removes every file not in `listed` and not being written now; returns
  // how many.
  Result<uint64_t> RemoveUnlisted(const std::set<uint32_t>& listed);
  bool IsWriting(uint32_t extent) const;
  // Files being written now (unsealed writers).
  size_t writing() const;
  uint64_t created() const;

 private:
  friend class ExtentWriter;
  void Sealed(uint32_t extent);
  void Closed(uint32_t extent, const std::string& path);

  const std::string dir_;
  mutable std::mutex mu_;
  uint32_t next_ = 1;
  std::set<uint32_t> writing_;    // unsealed
  std::set<uint32_t> committed_;  // named by a commit, not synced since
  std::set<uint32_t> ever_committed_;  // named by a commit in this process (never abandoned)
  bool dir_dirty_ = false;
  uint64_t created_ = 0;
  std::function<void(uint32_t)> on_sealed_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_EXTENT_EXTENT_STORE_H_
