// ExtentStore: the extent files of a store (FORMAT.md, "Extents"): a new
// extent for a file being written, reads of one, the syncs a durable
// commit needs, and removal. Local files only: the kernel writes into them
// directly when FUSE passthrough is on. Thread-safe.
#ifndef CIUICFS_STORE_EXTENT_EXTENT_STORE_H_
#define CIUICFS_STORE_EXTENT_EXTENT_STORE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
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
  // Bytes were written into it (the daemon's write path).
  void Touch();

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
  // The same for a reader of a version still in the extent: its bytes are
  // unchecked, so no range of the extent is punched while it is open here
  // (PunchOrDefer waits for the last such reader to close).
  Result<std::shared_ptr<ExtentFd>> OpenVersionReader(uint32_t extent);
  // Punch now, or when the last version reader of `extent` closes.
  Status PunchOrDefer(uint32_t extent, uint64_t offset, uint64_t n);
  Result<uint64_t> FileSize(uint32_t extent);
  // Bytes the file takes on disk (punched ranges do not count).
  Result<uint64_t> AllocatedSize(uint32_t extent);
  // Read and write, for the ingest's trailer and holes.
  Result<std::shared_ptr<ExtentFd>> OpenForUpdate(uint32_t extent);
  // Reads exactly `n` bytes at `offset` (a chunk kept in place); Corruption
  // when the file is shorter, NotFound when it is gone.
  Status ReadAt(uint32_t extent, uint64_t offset, size_t n, char* dst);
  // Copies bytes [0, n) of `extent` to `fd` from offset 0 (in the kernel).
  Status CopyInto(uint32_t extent, int fd, uint64_t n);
  // Frees the disk blocks of [offset, offset + n) (the file keeps its size;
  // the range reads as zeros). NotFound when the file is gone.
  Status Punch(uint32_t extent, uint64_t offset, uint64_t n);
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
  // Removes every file that `listed` (the extents the index lists, read
  // when called) does not name and that was not being written when this
  // began; returns how many. The files and the writers are taken before
  // the index is read, so an extent committed meanwhile is never taken.
  Result<uint64_t> RemoveUnlisted(const std::function<Result<std::set<uint32_t>>()>& listed);
  // Extents this process named in a commit and has not removed.
  std::set<uint32_t> committed_here() const;
  bool IsWriting(uint32_t extent) const;
  // Files being written now (unsealed writers).
  size_t writing() const;
  // Whether a save is in progress: an unsealed writer, and an extent made,
  // written (ExtentWriter::Touch), committed or sealed within the last
  // second. A writer left unsealed and idle does not count.
  bool saving() const;
  // Whether no extent was made, written, committed or sealed for `d`:
  // also false in the gap between two files of one checkpoint.
  bool idle_for(std::chrono::nanoseconds d) const;
  void Touch();
  uint64_t created() const;

 private:
  friend class ExtentWriter;
  void Sealed(uint32_t extent);
  void Closed(uint32_t extent, const std::string& path);
  void ReaderClosed(uint32_t extent);
  Result<int> OpenFile(uint32_t extent, int flags) const;  // NotFound when it is gone
  Status ReadAtOnce(uint32_t extent, uint64_t offset, size_t n, char* dst);

  const std::string dir_;
  mutable std::mutex mu_;
  uint32_t next_ = 1;
  std::set<uint32_t> writing_;    // unsealed
  std::map<uint32_t, uint64_t> committed_;  // named by a commit, not synced since -> generation
  uint64_t generation_ = 0;       // bumped by every NoteCommitted and Create
  uint64_t dir_synced_gen_ = 0;   // the folder's fsync covers files created up to here
  uint64_t dir_created_gen_ = 0;  // generation of the newest file created
  std::set<uint32_t> ever_committed_;  // named by a commit in this process (never abandoned)
  uint64_t created_ = 0;
  std::atomic<int64_t> last_activity_ns_{0};
  std::function<void(uint32_t)> on_sealed_;
  std::map<uint32_t, std::shared_ptr<ExtentFd>> read_fds_;  // for chunks kept in place
  std::map<uint32_t, int> version_readers_;                 // open OpenVersionReader descriptors
  std::map<uint32_t, std::vector<std::pair<uint64_t, uint64_t>>> deferred_punches_;
};

}  // namespace ciuicfs

#endif  // CIUICFS_STORE_EXTENT_EXTENT_STORE_H_
