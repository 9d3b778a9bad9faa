// The harness of tree_model_test.cc: one store next to the model of
// tree_model.h. It draws random edits against the model, commits them to
// the store and to the model, and checks that every snapshot's tree (whole,
// path by path, directory by directory) and its changes are the model's,
// also after drops, gc and a reopen. Members are defined in
// tree_harness.cc (random edits) and tree_harness_check.cc (commit and
// check).
#ifndef CIUICFS_TESTS_STORE_TREE_HARNESS_H_
#define CIUICFS_TESTS_STORE_TREE_HARNESS_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/base/chunk_id.h"
#include "store/index/rows.h"
#include "store/store.h"
#include "tests/store/test_util.h"
#include "tests/store/tree_model.h"

namespace ciuicfs::tree_model {

// ---------------------------------------------------------------------------
// The harness: one store, the model of its head, a model per retained
// snapshot, the bytes of every version ever committed.

class Harness {
 public:
  explicit Harness(uint64_t seed);
  ~Harness();

  Store* store() { return store_.get(); }
  const Model& model() const { return model_; }
  uint64_t head_seq() const { return head_seq_; }
  std::mt19937_64& rng() { return rng_; }
  std::vector<std::string>& focus_dirs() { return focus_dirs_; }

  uint64_t U(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool P(double p) {
    return static_cast<double>(rng_() % 1000000) < p * 1000000;
  }
  template <class T>
  const T& Pick(const std::vector<T>& v) {
    return v[U(v.size())];
  }
  int64_t Tick() {
    return 1'000'000'000 + ++clock_ * 1000 + static_cast<int64_t>(U(1000));
  }

  std::string Where() const;

  // --- edits --------------------------------------------------------------

  uint32_t FileMode();
  uint32_t DirMode();
  EntryKind FileKind() {
    return P(0.05) ? EntryKind::kSymlink : EntryKind::kFile;
  }

  // Small fresh bytes; now and then exactly the bytes of an earlier version
  // (dedup, also of one whose snapshots were dropped) or none at all.
  std::string NextBytes();

  // Names that sort around each other and around '/' ("d" < "d-1" < "d.x"
  // < "d/..." < "d0"), upper case, non-ASCII, now and then 250 bytes.
  std::string NewName();

  static Edit PutFresh(std::string path, EntryKind kind, uint32_t mode,
                       int64_t mtime, std::string bytes);
  // `size`: the version's, when the test has not seen it committed yet.
  Edit PutExisting(std::string path, EntryKind kind, uint32_t mode,
                   int64_t mtime, const VersionId& v,
                   std::optional<uint64_t> size = std::nullopt);
  static Edit PutDir(std::string path, uint32_t mode, int64_t mtime);
  static Edit Remove(std::string path);
  static Edit Rename(std::string from, std::string to, uint32_t mode,
                     int64_t mtime);

  // A fresh or existing version at `path` (mostly existing: cheap).
  Edit PutSome(std::string path, double fresh);

  struct View {
    std::vector<std::string> files, dirs, empty_dirs, full_dirs;
  };

  static View MakeView(const Model& m);

  std::string RandomDir(const View& v, const Profile& prof);
  std::string NewPath(const View& v, const Profile& prof);
  std::string NewPathOnce(const View& v, const Profile& prof);
  std::string MissingPath(const Model& m, const View& v, const Profile& prof);

  // How much deeper and longer than `dir` the paths below it go.
  std::pair<int, size_t> ExtentBelow(const Model& m, const std::string& dir);

  // A free destination for `src` that is not inside it: same directory,
  // another directory, a new (maybe deep) path, or a level up.
  std::string RenameTarget(const Model& m, const View& v, const Profile& prof,
                           const std::string& src);

  // An edit that must fail (the model says how).
  Edit InvalidEdit(const Model& m, const View& v, const Profile& prof);

  // Random edits never remove or move these, nor a directory above them.
  bool Protected(const std::string& path) const;
  std::vector<std::string>& protected_paths() { return protected_; }

  Edit RandomEdit(const Model& m, const Profile& prof);
  Edit RandomEditOnce(const Model& m, const Profile& prof);

  // `n` random edits, each drawn against the model as the ones before left
  // it. A commit that must succeed keeps every fresh version it ingests:
  // the model does not follow versions a commit stores and drops at once
  // (AFreshVersionReplacedInItsOwnCommitIsNotKept checks those).
  std::vector<Edit> RandomEdits(size_t n, const Profile& prof);

  bool Leaks(const std::vector<Edit>& edits);

  // --- commit and check ------------------------------------------------------

  // Commits `edits`; the model says whether that must work and what the new
  // tree is. Returns whether the commit made a snapshot.
  bool Commit(const std::vector<Edit>& edits);

  void AddUses(const Model& m, int delta);

  bool CheckWholeTree(const Hash128& root, const Model& m,
                      const std::string& what);
  void CheckLookup(const Hash128& root, const Model& m, const std::string& path,
                   const std::string& what);
  void CheckList(const Hash128& root, const Model& m, const std::string& dir,
                 const std::string& what);

  // Not a directory (missing, or a file): nothing listed, or an error that
  // says so; never entries.
  void CheckListOfNonDir(const Hash128& root, const std::string& path,
                         const std::string& what);

  // The tree `root` against `m`: whole, then per path for a sample, for
  // `probes` and for names right next to them that are not there, then per
  // directory for the top, a sample, the probes' parents and the focus dirs.
  void CheckTree(const Hash128& root, const Model& m,
                 std::vector<std::string> probes, const std::string& what);

  // Every retained snapshot: still in the chain with its tree, and that tree
  // equals its model.
  void CheckAllRetained(const std::string& when);

  // Tags `n` random older snapshots; dropping one of them, or the head, is
  // refused and drops nothing.
  void TagSome(int n);

  // Drops about `fraction` of the snapshots that may go (never the head,
  // never a tagged one), in one or two calls, then gc.
  void DropAndGc(double fraction);

  // Verify reports nothing; exactly the versions the retained trees name
  // are stored; a version only dropped snapshots named is gone.
  void ExpectVerifyClean(const std::string& when);

  // Reads back `n` random stored versions (and every version of the head's
  // first files) and compares the bytes.
  void CheckContents(int n, const std::string& when);

  void Reopen();

  // The end of every test: all retained snapshots, then tags, drops and gc,
  // then a reopen, each followed by the same checks, and more commits
  // after each.
  void Finale(const Profile& prof);

 private:
  uint64_t seed_;
  std::mt19937_64 rng_;
  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  Model model_;
  uint64_t head_seq_ = 0;
  Hash128 head_root_;
  std::map<uint64_t, Model> retained_;
  std::map<uint64_t, Hash128> roots_;
  // tree entries naming each version, over retained snapshots
  std::map<VersionId, int> uses_;
  std::vector<VersionId> versions_;            // the keys of uses_
  std::map<VersionId, std::string> contents_;  // every version ever committed
  std::set<uint64_t> tagged_;
  std::vector<std::string> focus_dirs_;
  std::vector<std::string> protected_;
  int64_t clock_ = 0;
  uint64_t bytes_counter_ = 0, missing_counter_ = 0;
  int commits_ = 0, refused_ = 0, edits_ = 0, max_depth_ = 0;
  size_t max_entries_ = 0;
};

}  // namespace ciuicfs::tree_model

#endif  // CIUICFS_TESTS_STORE_TREE_HARNESS_H_
