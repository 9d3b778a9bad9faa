// The plain in-memory model of a stored tree for tree_model_test.cc: a
// std::map path -> entry with the semantics of store/tree/flat_tree.cc and
// store/commit.cc, the edits a test commits, what a commit of them must
// do, printing for failure messages, and the seeds and profiles that drive
// the random runs. No store in here; tree_harness.h puts a store next to
// the model.
#ifndef CIUICFS_TESTS_STORE_TREE_MODEL_H_
#define CIUICFS_TESTS_STORE_TREE_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "store/base/chunk_id.h"
#include "store/base/status.h"
#include "store/index/rows.h"

namespace ciuicfs::tree_model {

using Code = Status::Code;
using Model = std::map<std::string, TreeEntry>;  // path -> entry, byte order
inline constexpr size_t npos = std::string::npos;

// ---------------------------------------------------------------------------
// Paths

bool IsBelow(const std::string& path, const std::string& dir);
std::string ParentOf(const std::string& path);
inline std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}
int DepthOf(const std::string& path);
// commit.cc's ValidatePath.
bool ValidPath(const std::string& path);
std::vector<std::string> Components(const std::string& path);
// Depth first: a directory, then everything below it, then its next sibling.
inline bool DepthFirstLess(const std::string& a, const std::string& b) {
  return Components(a) < Components(b);
}

// ---------------------------------------------------------------------------
// Printing

const char* KindName(EntryKind k);
std::string Octal(uint32_t mode);
std::string Show(const TreeEntry& e);
inline std::string Show(const std::optional<TreeEntry>& e) {
  return e ? Show(*e) : std::string("(none)");
}
std::string Show(const Change& c);

template <class T>
std::string FirstDiff(const std::vector<T>& got, const std::vector<T>& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  std::ostringstream os;
  os << "got " << got.size() << ", want " << want.size()
     << "; first difference at #" << i << ": got "
     << (i < got.size() ? Show(got[i]) : std::string("(end)")) << ", want "
     << (i < want.size() ? Show(want[i]) : std::string("(end)"));
  return os.str();
}

// ---------------------------------------------------------------------------
// Edits and the model

struct Edit {
  enum class Op { kPutFresh, kPutExisting, kPutDir, kRemove, kRename };
  Op op = Op::kPutFresh;
  std::string path;  // kRename: the destination
  std::string from;  // kRename: the source
  // kPutFresh, kPutExisting: file or symlink
  EntryKind kind = EntryKind::kFile;
  uint32_t mode = 0644;
  int64_t mtime = 0;
  std::string bytes;   // kPutFresh
  VersionId existing;  // kPutExisting
  // kPutExisting: the version's size (the test knows every version's bytes)
  uint64_t size = 0;

  VersionId version() const {
    return op == Op::kPutFresh ? Hash128::Of(bytes) : existing;
  }
};

std::string Show(const Edit& e);
std::string Show(const std::vector<Edit>& edits);

bool HasChildren(const Model& m, const std::string& dir);

// One edit, as the store applies it: kOk, or the error (then `m` is junk).
Code ApplyEdit(Model& m, const Edit& e, std::vector<Change>* changes);

struct Expected {
  Code code = Code::kOk;
  size_t failing = npos;  // the edit that fails
  Model after;
  std::vector<Change> changes;
};

// A whole commit: every path is checked first, then every existing version
// is looked up (`stored`, or fresh in this commit), then the edits run in
// order; any error fails the commit and changes nothing.
Expected Simulate(const Model& before, const std::vector<Edit>& edits,
                  const std::function<bool(const VersionId&)>& stored);

Tree ModelTree(const Model& m);
std::vector<TreeEntry> ModelList(const Model& m, const std::string& dir);

// ---------------------------------------------------------------------------
// Seeds

std::vector<uint64_t> Seeds(std::vector<uint64_t> defaults);
int Scaled(int n);

// How random edits are drawn.
struct Profile {
  size_t max_entries = 400;  // past this, removals win
  int min_depth = 0;         // new paths reach at least this depth
  int max_depth = 7;         // deepest path a put or rename creates
  int invalid_weight = 8;    // of about 100
  // Longest path a valid edit creates (commit allows 4096 bytes); past 400
  // a path's history row is keyed by its hash
  // (APathLongerThan500BytesCanBeCommitted).
  size_t max_path = 1000;
};

}  // namespace ciuicfs::tree_model

#endif  // CIUICFS_TESTS_STORE_TREE_MODEL_H_
