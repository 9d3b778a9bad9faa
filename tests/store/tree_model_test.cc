// Property tests of stored trees, for every TreeStore encoding (today's
// FlatTreeStore and the per-directory nodes of #12): seeded random edit
// sequences go through Store::Commit and through a plain in-memory model
// (std::map path -> entry) with the semantics of store/tree/flat_tree.cc
// and store/commit.cc. After every commit the snapshot's tree must equal the
// model: whole (GetTree), path by path (LookupInTree, also for missing
// paths) and directory by directory (ListTreeDir) for a sample, and its
// changes must be the ones TreeStore promises. Invalid edits must fail with
// the model's error and change nothing. Every retained snapshot's tree is
// checked again at the end, after dropping a random subset + gc (verify
// clean, exact version counts), and after closing and reopening the store.
//
// A failure names its seed; CIUICFS_TREE_SEED=N reruns only seed N, and
// CIUICFS_TREE_SCALE=K runs K times as many commits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "store/store.h"
#include "tests/store/test_util.h"

namespace ciuicfs {
namespace {

using namespace ciuicfs::testing;
using Code = Status::Code;
using Model = std::map<std::string, TreeEntry>;  // path -> entry, byte order
constexpr size_t npos = std::string::npos;

// ---------------------------------------------------------------------------
// Paths

bool IsBelow(const std::string& path, const std::string& dir) {
  if (dir.empty()) return !path.empty();
  return path.size() > dir.size() && path[dir.size()] == '/' && path.compare(0, dir.size(), dir) == 0;
}

std::string ParentOf(const std::string& path) {
  size_t s = path.rfind('/');
  return s == npos ? std::string() : path.substr(0, s);
}

std::string Join(const std::string& dir, const std::string& name) { return dir.empty() ? name : dir + "/" + name; }

int DepthOf(const std::string& path) {
  return path.empty() ? 0 : 1 + static_cast<int>(std::count(path.begin(), path.end(), '/'));
}

// commit.cc's ValidatePath.
bool ValidPath(const std::string& path) {
  if (path.empty() || path.size() > 4096 || path.front() == '/' || path.back() == '/') return false;
  for (size_t start = 0;;) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == npos ? npos : slash - start);
    if (part.empty() || part == "." || part == ".." || part.size() > 255 || part.find('\0') != npos) return false;
    if (slash == npos) return true;
    start = slash + 1;
  }
}

std::vector<std::string> Components(const std::string& path) {
  std::vector<std::string> out;
  for (size_t start = 0;;) {
    size_t slash = path.find('/', start);
    out.push_back(path.substr(start, slash == npos ? npos : slash - start));
    if (slash == npos) return out;
    start = slash + 1;
  }
}

// Depth first: a directory, then everything below it, then its next sibling.
bool DepthFirstLess(const std::string& a, const std::string& b) { return Components(a) < Components(b); }

// ---------------------------------------------------------------------------
// Printing

const char* KindName(EntryKind k) {
  switch (k) {
    case EntryKind::kFile: return "file";
    case EntryKind::kDirectory: return "dir";
    case EntryKind::kSymlink: return "symlink";
  }
  return "?";
}

std::string Octal(uint32_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0%o", mode);
  return buf;
}

std::string Show(const TreeEntry& e) {
  return "'" + e.path + "' " + KindName(e.kind) + " mode=" + Octal(e.mode) + " size=" + std::to_string(e.size) +
         " mtime=" + std::to_string(e.mtime_ns) + " v=" + e.version.ShortHex();
}

std::string Show(const std::optional<TreeEntry>& e) { return e ? Show(*e) : std::string("(none)"); }

std::string Show(const Change& c) {
  return std::string(ChangeKindName(c.kind)) + " '" + c.path + "' v=" + c.version.ShortHex() +
         " size=" + std::to_string(c.size);
}

template <class T>
std::string FirstDiff(const std::vector<T>& got, const std::vector<T>& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  std::ostringstream os;
  os << "got " << got.size() << ", want " << want.size() << "; first difference at #" << i << ": got "
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
  EntryKind kind = EntryKind::kFile;  // kPutFresh, kPutExisting: file or symlink
  uint32_t mode = 0644;
  int64_t mtime = 0;
  std::string bytes;     // kPutFresh
  VersionId existing;    // kPutExisting
  uint64_t size = 0;     // kPutExisting: the version's size (the test knows every version's bytes)

  VersionId version() const { return op == Op::kPutFresh ? Hash128::Of(bytes) : existing; }
};

std::string Show(const Edit& e) {
  switch (e.op) {
    case Edit::Op::kPutFresh:
      return std::string("put ") + KindName(e.kind) + " '" + e.path + "' " + Octal(e.mode) + " (" +
             std::to_string(e.bytes.size()) + " fresh bytes, v=" + e.version().ShortHex() + ")";
    case Edit::Op::kPutExisting:
      return std::string("put existing ") + KindName(e.kind) + " '" + e.path + "' " + Octal(e.mode) +
             " v=" + e.existing.ShortHex();
    case Edit::Op::kPutDir: return "put dir '" + e.path + "' " + Octal(e.mode);
    case Edit::Op::kRemove: return "remove '" + e.path + "'";
    case Edit::Op::kRename: return "rename '" + e.from + "' -> '" + e.path + "' " + Octal(e.mode);
  }
  return "?";
}

std::string Show(const std::vector<Edit>& edits) {
  std::string out;
  for (size_t i = 0; i < edits.size() && i < 40; ++i) out += "\n    " + Show(edits[i]);
  if (edits.size() > 40) out += "\n    ... (" + std::to_string(edits.size()) + " edits)";
  return out;
}

// Erases `dir`'s descendants from `m`, returning them.
std::vector<TreeEntry> TakeBelow(Model& m, const std::string& dir) {
  std::vector<TreeEntry> out;
  auto first = m.lower_bound(dir + "/"), last = first;
  for (; last != m.end() && IsBelow(last->first, dir); ++last) out.push_back(last->second);
  m.erase(first, last);
  return out;
}

bool HasChildren(const Model& m, const std::string& dir) {
  auto it = m.lower_bound(dir + "/");
  return it != m.end() && IsBelow(it->first, dir);
}

// The missing directories above `path` appear with 0755 and `mtime`; false
// when one above it is not a directory.
bool AddParents(Model& m, const std::string& path, int64_t mtime) {
  for (size_t s = path.find('/'); s != npos; s = path.find('/', s + 1)) {
    const std::string dir = path.substr(0, s);
    auto it = m.find(dir);
    if (it == m.end()) m.emplace(dir, TreeEntry{dir, EntryKind::kDirectory, 0755, 0, mtime, {}});
    else if (it->second.kind != EntryKind::kDirectory) return false;
  }
  return true;
}

Change MovedChange(const TreeEntry& e) {
  if (e.kind == EntryKind::kDirectory) return Change{ChangeKind::kPut, e.path, {}, 0};
  return Change{ChangeKind::kLink, e.path, e.version, e.size};
}

// One edit, as the store applies it: kOk, or the error (then `m` is junk).
Code ApplyEdit(Model& m, const Edit& e, std::vector<Change>* changes) {
  switch (e.op) {
    case Edit::Op::kRemove: {
      if (!m.count(e.path)) return Code::kNotFound;
      TakeBelow(m, e.path);
      m.erase(e.path);
      changes->push_back(Change{ChangeKind::kRemove, e.path, {}, 0});
      return Code::kOk;
    }
    case Edit::Op::kPutFresh:
    case Edit::Op::kPutExisting:
    case Edit::Op::kPutDir: {
      TreeEntry entry{e.path, EntryKind::kDirectory, e.mode, 0, e.mtime, {}};
      ChangeKind change = ChangeKind::kPut;
      if (e.op != Edit::Op::kPutDir) {
        entry.kind = e.kind;
        entry.version = e.version();
        entry.size = e.op == Edit::Op::kPutFresh ? e.bytes.size() : e.size;
        if (e.op == Edit::Op::kPutExisting) change = ChangeKind::kLink;
      }
      auto it = m.find(e.path);
      if (it != m.end() && it->second.kind == EntryKind::kDirectory && entry.kind != EntryKind::kDirectory &&
          HasChildren(m, e.path))
        return Code::kInvalidArgument;  // a file over a non-empty directory
      if (!AddParents(m, e.path, e.mtime)) return Code::kInvalidArgument;  // below a file
      changes->push_back(Change{change, e.path, entry.version, entry.size});
      m[e.path] = entry;
      return Code::kOk;
    }
    case Edit::Op::kRename: {
      auto src = m.find(e.from);
      if (src == m.end()) return Code::kNotFound;
      if (m.count(e.path)) return Code::kInvalidArgument;
      if (IsBelow(e.path, e.from)) return Code::kInvalidArgument;  // into itself
      TreeEntry top = src->second;
      top.path = e.path;
      top.mode = e.mode;
      top.mtime_ns = e.mtime;
      std::vector<TreeEntry> moved = TakeBelow(m, e.from);
      m.erase(e.from);
      if (!AddParents(m, e.path, e.mtime)) return Code::kInvalidArgument;  // below a file
      for (TreeEntry& d : moved) d.path = e.path + d.path.substr(e.from.size());
      std::sort(moved.begin(), moved.end(),
                [](const TreeEntry& a, const TreeEntry& b) { return DepthFirstLess(a.path, b.path); });
      changes->push_back(Change{ChangeKind::kRemove, e.from, {}, 0});
      changes->push_back(MovedChange(top));
      m[top.path] = top;
      for (const TreeEntry& d : moved) {
        changes->push_back(MovedChange(d));
        m[d.path] = d;
      }
      return Code::kOk;
    }
  }
  return Code::kCorruption;
}

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
                  const std::function<bool(const VersionId&)>& stored) {
  Expected x;
  for (size_t i = 0; i < edits.size(); ++i)
    if (!ValidPath(edits[i].path) || (edits[i].op == Edit::Op::kRename && !ValidPath(edits[i].from))) {
      x.code = Code::kInvalidArgument;
      x.failing = i;
      return x;
    }
  std::set<VersionId> fresh;
  for (const Edit& e : edits)
    if (e.op == Edit::Op::kPutFresh) fresh.insert(e.version());
  for (size_t i = 0; i < edits.size(); ++i)
    if (edits[i].op == Edit::Op::kPutExisting && !fresh.count(edits[i].existing) && !stored(edits[i].existing)) {
      x.code = Code::kNotFound;
      x.failing = i;
      return x;
    }
  x.after = before;
  for (size_t i = 0; i < edits.size(); ++i) {
    Code c = ApplyEdit(x.after, edits[i], &x.changes);
    if (c != Code::kOk) {
      x.code = c;
      x.failing = i;
      x.after.clear();
      x.changes.clear();
      return x;
    }
  }
  return x;
}

Tree ModelTree(const Model& m) {
  Tree out;
  out.reserve(m.size());
  for (auto& [path, e] : m) out.push_back(e);
  return out;
}

std::vector<TreeEntry> ModelList(const Model& m, const std::string& dir) {
  std::vector<TreeEntry> out;
  const std::string prefix = dir.empty() ? std::string() : dir + "/";
  for (auto it = m.lower_bound(prefix); it != m.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
    if (it->first.find('/', prefix.size()) == npos) out.push_back(it->second);
  return out;
}

// ---------------------------------------------------------------------------
// Seeds

std::vector<uint64_t> Seeds(std::vector<uint64_t> defaults) {
  const char* s = std::getenv("CIUICFS_TREE_SEED");
  if (s && *s) return {std::strtoull(s, nullptr, 10)};
  return defaults;
}

int Scaled(int n) {
  const char* s = std::getenv("CIUICFS_TREE_SCALE");
  int k = s && *s ? std::atoi(s) : 1;
  return n * std::max(1, k);
}

// How random edits are drawn.
struct Profile {
  size_t max_entries = 400;  // past this, removals win
  int min_depth = 0;         // new paths reach at least this depth
  int max_depth = 7;         // deepest path a put or rename creates
  int invalid_weight = 8;    // of about 100
  // Longest path a valid edit creates (commit allows 4096 bytes); past 400
  // a path's history row is keyed by its hash (APathLongerThan500BytesCanBeCommitted).
  size_t max_path = 1000;
};

// ---------------------------------------------------------------------------
// The harness: one store, the model of its head, a model per retained
// snapshot, the bytes of every version ever committed.

class Harness {
 public:
  explicit Harness(uint64_t seed) : seed_(seed), rng_(seed) { store_ = OpenStore(dir_.Sub("s")); }
  ~Harness() {
    std::printf("  seed %llu: %d commits (%d refused as the model said), %d edits, up to %zu entries and depth %d, "
                "%zu snapshots retained of %llu\n",
                static_cast<unsigned long long>(seed_), commits_, refused_, edits_, max_entries_, max_depth_,
                retained_.size(), static_cast<unsigned long long>(head_seq_));
  }

  Store* store() { return store_.get(); }
  const Model& model() const { return model_; }
  uint64_t head_seq() const { return head_seq_; }
  std::mt19937_64& rng() { return rng_; }
  std::vector<std::string>& focus_dirs() { return focus_dirs_; }

  uint64_t U(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool P(double p) { return static_cast<double>(rng_() % 1000000) < p * 1000000; }
  template <class T>
  const T& Pick(const std::vector<T>& v) { return v[U(v.size())]; }
  int64_t Tick() { return 1'000'000'000 + ++clock_ * 1000 + static_cast<int64_t>(U(1000)); }

  std::string Where() const {
    return "seed " + std::to_string(seed_) + " (rerun: CIUICFS_TREE_SEED=" + std::to_string(seed_) +
           "), commit #" + std::to_string(commits_);
  }

  // --- edits --------------------------------------------------------------

  uint32_t FileMode() {
    static const uint32_t kModes[] = {0644, 0600, 0755, 0444, 0640};
    return kModes[U(5)];
  }
  uint32_t DirMode() {
    static const uint32_t kModes[] = {0755, 0700, 0750, 0775};
    return kModes[U(4)];
  }
  EntryKind FileKind() { return P(0.05) ? EntryKind::kSymlink : EntryKind::kFile; }

  // Small fresh bytes; now and then exactly the bytes of an earlier version
  // (dedup, also of one whose snapshots were dropped) or none at all.
  std::string NextBytes() {
    if (!contents_.empty() && P(0.08)) return std::next(contents_.begin(), U(contents_.size()))->second;
    if (P(0.02)) return std::string();
    return RandomBytes(seed_ * 1000003 + ++bytes_counter_, 1 + U(300));
  }

  // Names that sort around each other and around '/' ("d" < "d-1" < "d.x"
  // < "d/..." < "d0"), upper case, non-ASCII, now and then 250 bytes.
  std::string NewName() {
    static const char* kStems[] = {"a",  "a-", "a.", "a0", "b",      "ckpt", "d",  "d-1", "d.x", "m",
                                   "m+", "m n", "z", "Z",  "_",      "~",    "0",  "step-", "\xc3\xa9t\xc3\xa9"};
    if (P(0.01)) return std::string(250, 'L') + std::to_string(U(10));
    std::string stem = kStems[U(sizeof kStems / sizeof kStems[0])];
    return P(0.15) ? stem : stem + std::to_string(U(60));
  }

  static Edit PutFresh(std::string path, EntryKind kind, uint32_t mode, int64_t mtime, std::string bytes) {
    Edit e;
    e.op = Edit::Op::kPutFresh;
    e.path = std::move(path);
    e.kind = kind;
    e.mode = mode;
    e.mtime = mtime;
    e.bytes = std::move(bytes);
    return e;
  }
  // `size`: the version's, when the test has not seen it committed yet.
  Edit PutExisting(std::string path, EntryKind kind, uint32_t mode, int64_t mtime, const VersionId& v,
                   std::optional<uint64_t> size = std::nullopt) {
    Edit e;
    e.op = Edit::Op::kPutExisting;
    e.path = std::move(path);
    e.kind = kind;
    e.mode = mode;
    e.mtime = mtime;
    e.existing = v;
    auto it = contents_.find(v);
    e.size = size ? *size : it == contents_.end() ? 0 : it->second.size();
    return e;
  }
  static Edit PutDir(std::string path, uint32_t mode, int64_t mtime) {
    Edit e;
    e.op = Edit::Op::kPutDir;
    e.path = std::move(path);
    e.mode = mode;
    e.mtime = mtime;
    return e;
  }
  static Edit Remove(std::string path) {
    Edit e;
    e.op = Edit::Op::kRemove;
    e.path = std::move(path);
    return e;
  }
  static Edit Rename(std::string from, std::string to, uint32_t mode, int64_t mtime) {
    Edit e;
    e.op = Edit::Op::kRename;
    e.from = std::move(from);
    e.path = std::move(to);
    e.mode = mode;
    e.mtime = mtime;
    return e;
  }

  // A fresh or existing version at `path` (mostly existing: cheap).
  Edit PutSome(std::string path, double fresh) {
    if (P(fresh) || versions_.empty()) return PutFresh(std::move(path), FileKind(), FileMode(), Tick(), NextBytes());
    return PutExisting(std::move(path), EntryKind::kFile, FileMode(), Tick(), Pick(versions_));
  }

  struct View {
    std::vector<std::string> files, dirs, empty_dirs, full_dirs;
  };

  static View MakeView(const Model& m) {
    View v;
    for (auto& [path, e] : m) {
      if (e.kind != EntryKind::kDirectory) {
        v.files.push_back(path);
        continue;
      }
      v.dirs.push_back(path);
      (HasChildren(m, path) ? v.full_dirs : v.empty_dirs).push_back(path);
    }
    return v;
  }

  std::string RandomDir(const View& v, const Profile& prof) {
    if (v.dirs.empty() || P(0.12)) return "";
    if (prof.min_depth == 0) return Pick(v.dirs);
    std::string best = Pick(v.dirs);  // deep runs: the deepest of three
    for (int i = 0; i < 2; ++i) {
      const std::string& d = Pick(v.dirs);
      if (DepthOf(d) > DepthOf(best)) best = d;
    }
    return best;
  }

  std::string NewPath(const View& v, const Profile& prof) {
    for (int tries = 0; tries < 20; ++tries) {
      std::string path = NewPathOnce(v, prof);
      if (path.size() <= prof.max_path) return path;
    }
    return "r" + std::to_string(++missing_counter_);
  }

  std::string NewPathOnce(const View& v, const Profile& prof) {
    std::string path = RandomDir(v, prof);
    if (DepthOf(path) >= prof.max_depth) path = "";
    int extra = P(0.25) ? 1 + static_cast<int>(U(2)) : 0;
    if (DepthOf(path) + 1 < prof.min_depth) extra = prof.min_depth - DepthOf(path) - 1 + static_cast<int>(U(4));
    extra = std::min(extra, std::max(0, prof.max_depth - DepthOf(path) - 1));
    for (int i = 0; i < extra; ++i) path = Join(path, NewName());
    return Join(path, NewName());
  }

  std::string MissingPath(const Model& m, const View& v, const Profile& prof) {
    for (;;) {
      std::string p = Join(RandomDir(v, prof), "missing" + std::to_string(++missing_counter_));
      if (!m.count(p)) return p;
    }
  }

  // How much deeper and longer than `dir` the paths below it go.
  std::pair<int, size_t> ExtentBelow(const Model& m, const std::string& dir) {
    int depth = DepthOf(dir);
    size_t length = dir.size();
    for (auto it = m.lower_bound(dir + "/"); it != m.end() && IsBelow(it->first, dir); ++it) {
      depth = std::max(depth, DepthOf(it->first));
      length = std::max(length, it->first.size());
    }
    return {depth - DepthOf(dir), length - dir.size()};
  }

  // A free destination for `src` that is not inside it: same directory,
  // another directory, a new (maybe deep) path, or a level up.
  std::string RenameTarget(const Model& m, const View& v, const Profile& prof, const std::string& src) {
    const auto [below, longer] = ExtentBelow(m, src);
    for (int tries = 0; tries < 20; ++tries) {
      std::string to;
      switch (U(4)) {
        case 0: to = Join(ParentOf(src), NewName()); break;
        case 1: to = Join(RandomDir(v, prof), NewName()); break;
        case 2: to = NewPath(v, prof); break;
        default: to = Join(ParentOf(ParentOf(src)), NewName()); break;
      }
      if (to != src && !IsBelow(to, src) && !m.count(to) && DepthOf(to) + below <= prof.max_depth + 4 &&
          to.size() + longer <= prof.max_path)
        return to;
    }
    return "r" + std::to_string(++missing_counter_);
  }

  // An edit that must fail (the model says how).
  Edit InvalidEdit(const Model& m, const View& v, const Profile& prof) {
    std::vector<std::string> all = v.files;
    all.insert(all.end(), v.dirs.begin(), v.dirs.end());
    switch (U(11)) {
      case 1:  // rename of a missing source
        return Rename(MissingPath(m, v, prof), NewPath(v, prof), FileMode(), Tick());
      case 2:  // rename onto an existing path
        if (all.size() >= 2) return Rename(Pick(all), Pick(all), DirMode(), Tick());
        break;
      case 3:  // a directory into itself
        if (!v.dirs.empty()) {
          const std::string& src = Pick(v.dirs);
          std::string to = Join(src, NewName());
          if (P(0.5)) to = Join(to, NewName());
          return Rename(src, to, DirMode(), Tick());
        }
        break;
      case 4:  // put or rename below a file
        if (!v.files.empty()) {
          std::string to = Join(Pick(v.files), NewName());
          if (P(0.3)) to = Join(to, NewName());
          if (P(0.3)) return PutDir(to, DirMode(), Tick());
          if (P(0.3) && !all.empty()) return Rename(Pick(all), to, FileMode(), Tick());
          return PutSome(to, 0.3);
        }
        break;
      case 5:  // a file over a non-empty directory
        if (!v.full_dirs.empty()) return PutSome(Pick(v.full_dirs), 0.5);
        break;
      case 6:  // an existing version the store does not have
        return PutExisting(NewPath(v, prof), EntryKind::kFile, FileMode(), Tick(),
                           Hash128::Of("never stored " + std::to_string(++missing_counter_)));
      case 7: {  // a bad path, as source or destination
        static const char* kBad[] = {"", "/a", "a/", "a//b", "./a", "a/..", "..", "a/./b", "b/../c"};
        std::string bad = kBad[U(sizeof kBad / sizeof kBad[0])];
        if (P(0.15)) bad = "x/" + std::string(256, 'y');
        switch (U(4)) {
          case 0: return PutSome(bad, 0.5);
          case 1: return Remove(bad);
          case 2: return Rename(bad, NewPath(v, prof), FileMode(), Tick());
          default: return Rename(all.empty() ? "x" : Pick(all), bad, FileMode(), Tick());
        }
      }
      case 8:  // rename onto itself
        if (!all.empty()) {
          const std::string& p = Pick(all);
          return Rename(p, p, FileMode(), Tick());
        }
        break;
      case 9:  // remove below a file
        if (!v.files.empty()) return Remove(Join(Pick(v.files), NewName()));
        break;
      case 10:  // remove a missing name that sorts right next to an existing one
        if (!all.empty()) {
          std::string p = Pick(all) + (P(0.5) ? "-" : "0");
          if (!m.count(p)) return Remove(p);
        }
        break;
      default: break;
    }
    return Remove(MissingPath(m, v, prof));
  }

  // Random edits never remove or move these, nor a directory above them.
  bool Protected(const std::string& path) const {
    for (const std::string& p : protected_)
      if (p == path || IsBelow(p, path)) return true;
    return false;
  }
  std::vector<std::string>& protected_paths() { return protected_; }

  Edit RandomEdit(const Model& m, const Profile& prof) {
    for (;;) {
      Edit e = RandomEditOnce(m, prof);
      if ((e.op == Edit::Op::kRemove && Protected(e.path)) || (e.op == Edit::Op::kRename && Protected(e.from)))
        continue;
      return e;
    }
  }

  Edit RandomEditOnce(const Model& m, const Profile& prof) {
    View v = MakeView(m);
    enum {
      kNewFile, kOverwrite, kExisting, kNewDir, kRePutDir, kDirOverFile, kFileOverEmptyDir,
      kRemoveFile, kRemoveDir, kRenameFile, kRenameDir, kInvalid, kKinds
    };
    int w[kKinds] = {22, 7, 10, 5, 2, 1, 1, 6, 1, 10, 8, prof.invalid_weight};
    if (m.size() < prof.max_entries / 4) w[kRemoveDir] = 0;  // grow first
    if (m.size() >= prof.max_entries) {
      w[kNewFile] = 2;
      w[kExisting] = 2;
      w[kNewDir] = 1;
      w[kRemoveFile] = 14;
      w[kRemoveDir] = 5;
    }
    int total = 0;
    for (int x : w) total += x;
    for (;;) {
      int r = static_cast<int>(U(total)), kind = 0;
      while (r >= w[kind]) r -= w[kind++];
      switch (kind) {
        case kNewFile: return PutFresh(NewPath(v, prof), FileKind(), FileMode(), Tick(), NextBytes());
        case kOverwrite:
          if (v.files.empty()) continue;
          return PutFresh(Pick(v.files), FileKind(), FileMode(), Tick(), NextBytes());
        case kExisting: {
          VersionId version;
          std::optional<uint64_t> size;  // a version fresh in this commit is not in contents_ yet
          if (!v.files.empty() && (versions_.empty() || P(0.6))) {
            const TreeEntry& e = m.at(Pick(v.files));
            version = e.version;
            size = e.size;
          } else if (!versions_.empty()) {
            version = Pick(versions_);
          } else {
            continue;
          }
          std::string path = !v.files.empty() && P(0.5) ? Pick(v.files) : NewPath(v, prof);
          return PutExisting(path, FileKind(), FileMode(), Tick(), version, size);
        }
        case kNewDir: return PutDir(NewPath(v, prof), DirMode(), Tick());
        case kRePutDir:
          if (v.dirs.empty()) continue;
          return PutDir(Pick(v.dirs), DirMode(), Tick());
        case kDirOverFile:
          if (v.files.empty()) continue;
          return PutDir(Pick(v.files), DirMode(), Tick());
        case kFileOverEmptyDir:
          if (v.empty_dirs.empty()) continue;
          return PutFresh(Pick(v.empty_dirs), FileKind(), FileMode(), Tick(), NextBytes());
        case kRemoveFile:
          if (v.files.empty()) continue;
          return Remove(Pick(v.files));
        case kRemoveDir:
          if (v.dirs.empty()) continue;
          return Remove(Pick(v.dirs));
        case kRenameFile: {
          if (v.files.empty()) continue;
          std::string src = Pick(v.files);
          return Rename(src, RenameTarget(m, v, prof, src), FileMode(), Tick());
        }
        case kRenameDir: {
          if (v.dirs.empty()) continue;
          std::string src = Pick(v.dirs);
          return Rename(src, RenameTarget(m, v, prof, src), DirMode(), Tick());
        }
        default: return InvalidEdit(m, v, prof);
      }
    }
  }

  // `n` random edits, each drawn against the model as the ones before left
  // it. A commit that must succeed keeps every fresh version it ingests:
  // the model does not follow versions a commit stores and drops at once
  // (AFreshVersionReplacedInItsOwnCommitIsNotKept checks those).
  std::vector<Edit> RandomEdits(size_t n, const Profile& prof) {
    for (int tries = 0;; ++tries) {
      std::vector<Edit> edits;
      Model sim = model_;
      for (size_t i = 0; i < n; ++i) {
        edits.push_back(RandomEdit(sim, prof));
        std::vector<Change> ignored;
        Model next = sim;
        if (ApplyEdit(next, edits.back(), &ignored) == Code::kOk) sim = std::move(next);
      }
      if (!Leaks(edits)) return edits;
      if (tries >= 20) return {RandomEdit(model_, prof)};  // one edit keeps what it ingests
    }
  }

  bool Leaks(const std::vector<Edit>& edits) {
    Expected x = Simulate(model_, edits, [&](const VersionId& v) { return uses_.count(v) > 0; });
    if (x.code != Code::kOk) return false;
    std::set<VersionId> kept;
    for (auto& [path, e] : x.after)
      if (e.kind != EntryKind::kDirectory) kept.insert(e.version);
    for (const Edit& e : edits)
      if (e.op == Edit::Op::kPutFresh && !kept.count(e.version()) && !uses_.count(e.version())) return true;
    return false;
  }

  // --- commit and check ------------------------------------------------------

  // Commits `edits`; the model says whether that must work and what the new
  // tree is. Returns whether the commit made a snapshot.
  bool Commit(const std::vector<Edit>& edits) {
    ++commits_;
    EXPECT_FALSE(Leaks(edits)) << Where() << ": test bug: this commit drops a version it ingests:" << Show(edits);
    Expected want = Simulate(model_, edits, [&](const VersionId& v) { return uses_.count(v) > 0; });
    std::deque<PendingVersion> fresh;
    CommitRequest req;
    for (const Edit& e : edits) {
      TreeEdit te;
      switch (e.op) {
        case Edit::Op::kPutFresh:
          fresh.push_back(Ingest(store_.get(), e.bytes));
          EXPECT_EQ(fresh.back().id(), e.version()) << Where();
          EXPECT_EQ(fresh.back().size(), e.bytes.size()) << Where();
          te = TreeEdit::PutFile(e.path, e.mode, e.mtime, &fresh.back());
          break;
        case Edit::Op::kPutExisting: te = TreeEdit::PutExisting(e.path, e.mode, e.mtime, e.existing); break;
        case Edit::Op::kPutDir: te = TreeEdit::PutDirectory(e.path, e.mode, e.mtime); break;
        case Edit::Op::kRemove: te = TreeEdit::Remove(e.path); break;
        case Edit::Op::kRename: te = TreeEdit::Rename(e.from, e.path, e.mode, e.mtime); break;
      }
      if (e.op == Edit::Op::kPutFresh || e.op == Edit::Op::kPutExisting)
        if (e.kind == EntryKind::kSymlink) te.op = TreeEdit::Op::kPutSymlink;
      req.edits.push_back(std::move(te));
    }
    if (P(0.7)) req.step = commits_;
    req.time_ns = 1'700'000'000'000'000'000 + commits_;
    auto snap = store_->Commit(req);
    edits_ += static_cast<int>(edits.size());

    if (want.code != Code::kOk) {
      ++refused_;
      if (snap.ok()) {
        ADD_FAILURE() << Where() << ": the commit should fail (" << static_cast<int>(want.code) << ") at edit #"
                      << want.failing << " (" << Show(edits[want.failing]) << ") but made snapshot " << snap->seq
                      << "; edits:" << Show(edits);
        return false;
      }
      EXPECT_EQ(snap.status().code(), want.code)
          << Where() << ": " << snap.status().ToString() << "; failing edit #" << want.failing << " ("
          << Show(edits[want.failing]) << "); edits:" << Show(edits);
      // Nothing changed.
      auto head = store_->Head();
      EXPECT_TRUE(head.ok()) << head.status().ToString();
      if (head.ok()) {
        EXPECT_EQ(*head ? (*head)->seq : 0, head_seq_) << Where() << ": a failed commit moved the head";
        EXPECT_EQ(*head ? (*head)->tree : Hash128{}, head_root_) << Where() << ": a failed commit changed the tree";
      }
      if (P(0.3)) CheckWholeTree(head_root_, model_, Where() + " (after a failed commit)");
      return false;
    }
    if (!snap.ok()) {
      ADD_FAILURE() << Where() << ": commit failed: " << snap.status().ToString() << "; edits:" << Show(edits);
      return false;
    }
    EXPECT_EQ(snap->seq, head_seq_ + 1) << Where();
    if (snap->changes != want.changes)
      ADD_FAILURE() << Where() << ": snapshot changes: " << FirstDiff(snap->changes, want.changes)
                    << "; edits:" << Show(edits);
    for (const Edit& e : edits)
      if (e.op == Edit::Op::kPutFresh) contents_.emplace(e.version(), e.bytes);
    model_ = std::move(want.after);
    head_seq_ = snap->seq;
    head_root_ = snap->tree;
    retained_[head_seq_] = model_;
    roots_[head_seq_] = head_root_;
    AddUses(model_, +1);
    max_entries_ = std::max(max_entries_, model_.size());
    for (auto& [path, e] : model_) max_depth_ = std::max(max_depth_, DepthOf(path));

    // The edited paths, their neighbours in byte order, and their parents.
    std::set<std::string> probes;
    for (const Edit& e : edits) {
      for (const std::string* p : {&e.path, &e.from}) {
        if (p->empty()) continue;
        probes.insert(*p);
        probes.insert(ParentOf(*p));
        auto it = model_.lower_bound(*p);
        if (it != model_.end()) probes.insert(it->first);
        if (it != model_.end() && ++it != model_.end()) probes.insert(it->first);
        it = model_.lower_bound(*p);
        if (it != model_.begin()) probes.insert(std::prev(it)->first);
      }
    }
    probes.erase("");
    CheckTree(head_root_, model_, std::vector<std::string>(probes.begin(), probes.end()),
              Where() + ", snapshot " + std::to_string(head_seq_));
    return true;
  }

  void AddUses(const Model& m, int delta) {
    for (auto& [path, e] : m)
      if (e.kind != EntryKind::kDirectory) {
        int& n = uses_[e.version];
        n += delta;
        if (n == 0) uses_.erase(e.version);
      }
    versions_.clear();
    for (auto& [v, n] : uses_) versions_.push_back(v);
  }

  bool CheckWholeTree(const Hash128& root, const Model& m, const std::string& what) {
    EXPECT_EQ(root.IsZero(), m.empty()) << what << ": the empty tree, and only it, is root zero";
    auto tree = store_->GetTree(root);
    if (!tree.ok()) {
      ADD_FAILURE() << what << ": GetTree: " << tree.status().ToString();
      return false;
    }
    Tree want = ModelTree(m);
    if (*tree != want) {
      ADD_FAILURE() << what << ": GetTree: " << FirstDiff(*tree, want);
      return false;
    }
    return true;
  }

  void CheckLookup(const Hash128& root, const Model& m, const std::string& path, const std::string& what) {
    auto got = store_->LookupInTree(root, path);
    if (!got.ok()) {
      ADD_FAILURE() << what << ": LookupInTree('" << path << "'): " << got.status().ToString();
      return;
    }
    auto it = m.find(path);
    std::optional<TreeEntry> want = it == m.end() ? std::nullopt : std::optional<TreeEntry>(it->second);
    if (*got != want) ADD_FAILURE() << what << ": LookupInTree('" << path << "'): got " << Show(*got) << ", want " << Show(want);
  }

  void CheckList(const Hash128& root, const Model& m, const std::string& dir, const std::string& what) {
    auto got = store_->ListTreeDir(root, dir);
    if (!got.ok()) {
      ADD_FAILURE() << what << ": ListTreeDir('" << dir << "'): " << got.status().ToString();
      return;
    }
    std::vector<TreeEntry> want = ModelList(m, dir);
    if (*got != want) ADD_FAILURE() << what << ": ListTreeDir('" << dir << "'): " << FirstDiff(*got, want);
  }

  // Not a directory (missing, or a file): nothing listed, or an error that
  // says so; never entries.
  void CheckListOfNonDir(const Hash128& root, const std::string& path, const std::string& what) {
    auto got = store_->ListTreeDir(root, path);
    if (got.ok()) {
      EXPECT_TRUE(got->empty()) << what << ": ListTreeDir('" << path << "') of a non-directory lists "
                                << got->size() << " entries, the first " << Show(got->front());
    } else {
      EXPECT_TRUE(got.status().IsNotFound() || got.status().code() == Code::kInvalidArgument)
          << what << ": ListTreeDir('" << path << "'): " << got.status().ToString();
    }
  }

  // The tree `root` against `m`: whole, then per path for a sample, for
  // `probes` and for names right next to them that are not there, then per
  // directory for the top, a sample, the probes' parents and the focus dirs.
  void CheckTree(const Hash128& root, const Model& m, std::vector<std::string> probes, const std::string& what) {
    if (!CheckWholeTree(root, m, what)) return;
    std::vector<const std::string*> keys;
    if (!m.empty())
      for (int i = 0; i < 8; ++i) keys.push_back(&std::next(m.begin(), U(m.size()))->first);
    if (!m.empty()) {
      keys.push_back(&m.begin()->first);
      keys.push_back(&m.rbegin()->first);
    }
    while (probes.size() > 24) {
      std::swap(probes[U(probes.size())], probes.back());
      probes.pop_back();
    }
    std::set<std::string> paths(probes.begin(), probes.end()), dirs{""};
    for (const std::string* k : keys) paths.insert(*k);
    std::vector<std::string> around;
    int ancestors = 0;
    for (const std::string& p : paths) {
      static const char* kNext[] = {"-", "0", "/x", "~", ".", " "};
      for (int i = 0; i < 2; ++i) around.push_back(p + kNext[U(6)]);
      if (p.size() > 1) around.push_back(p.substr(0, p.size() - 1));
      if (ancestors++ < 3)
        for (std::string d = ParentOf(p); !d.empty(); d = ParentOf(d)) around.push_back(d);
      if (dirs.size() < 10) dirs.insert(ParentOf(p));
    }
    around.push_back("no-such-entry");
    around.push_back("no/such/deep/entry/at/all/here/x");
    paths.insert(around.begin(), around.end());
    for (const std::string& p : paths) CheckLookup(root, m, p, what);
    for (const std::string& d : focus_dirs_) dirs.insert(d);
    for (int i = 0; i < 3 && !m.empty(); ++i) {
      auto it = std::next(m.begin(), U(m.size()));
      dirs.insert(it->second.kind == EntryKind::kDirectory ? it->first : ParentOf(it->first));
    }
    for (const std::string& d : dirs) {
      auto it = m.find(d);
      if (d.empty() || (it != m.end() && it->second.kind == EntryKind::kDirectory)) CheckList(root, m, d, what);
      else CheckListOfNonDir(root, d, what);
    }
    CheckListOfNonDir(root, "no-such-dir", what);
    for (const std::string* k : keys)
      if (m.at(*k).kind != EntryKind::kDirectory) {
        CheckListOfNonDir(root, *k, what);
        break;
      }
  }

  // Every retained snapshot: still in the chain with its tree, and that tree
  // equals its model.
  void CheckAllRetained(const std::string& when) {
    auto list = store_->ListSnapshots();
    ASSERT_TRUE(list.ok()) << list.status().ToString();
    std::vector<uint64_t> seqs, want;
    for (const Snapshot& s : *list) seqs.push_back(s.seq);
    for (auto& [seq, m] : retained_) want.push_back(seq);
    EXPECT_EQ(seqs, want) << "seed " << seed_ << " " << when << ": the retained snapshots";
    for (auto& [seq, m] : retained_) {
      const std::string what = "seed " + std::to_string(seed_) + " " + when + ", snapshot " + std::to_string(seq);
      auto snap = store_->GetSnapshot(seq);
      if (!snap.ok()) {
        ADD_FAILURE() << what << ": " << snap.status().ToString();
        continue;
      }
      EXPECT_EQ(snap->tree, roots_[seq]) << what;
      CheckTree(roots_[seq], m, {}, what);
      if (::testing::Test::HasFailure()) return;
    }
  }

  // Tags `n` random older snapshots; dropping one of them, or the head, is
  // refused and drops nothing.
  void TagSome(int n) {
    std::vector<uint64_t> older;
    for (auto& [seq, m] : retained_)
      if (seq != head_seq_ && !tagged_.count(seq)) older.push_back(seq);
    for (int i = 0; i < n && !older.empty(); ++i) {
      uint64_t seq = Pick(older);
      ASSERT_TRUE(store_->SetTag("keep-" + std::to_string(seq), seq).ok());
      tagged_.insert(seq);
    }
    std::vector<uint64_t> some;
    for (uint64_t seq : older)
      if (!tagged_.count(seq) && some.size() < 3) some.push_back(seq);
    if (!tagged_.empty()) {
      std::vector<uint64_t> with_tagged = some;
      with_tagged.push_back(*tagged_.begin());
      EXPECT_EQ(store_->DropSnapshots(with_tagged).code(), Code::kInvalidArgument);
    }
    std::vector<uint64_t> with_head = some;
    with_head.push_back(head_seq_);
    EXPECT_EQ(store_->DropSnapshots(with_head).code(), Code::kInvalidArgument);
    EXPECT_EQ(store_->ListSnapshots()->size(), retained_.size()) << "a refused drop dropped something";
  }

  // Drops about `fraction` of the snapshots that may go (never the head,
  // never a tagged one), in one or two calls, then gc.
  void DropAndGc(double fraction) {
    std::vector<uint64_t> drop;
    for (auto& [seq, m] : retained_)
      if (seq != head_seq_ && !tagged_.count(seq) && P(fraction)) drop.push_back(seq);
    std::shuffle(drop.begin(), drop.end(), rng_);
    size_t half = drop.size() / 2;
    std::vector<uint64_t> first(drop.begin(), drop.begin() + half), second(drop.begin() + half, drop.end());
    for (const auto& part : {first, second}) {
      if (part.empty()) continue;
      Status s = store_->DropSnapshots(part);
      ASSERT_TRUE(s.ok()) << "seed " << seed_ << ": DropSnapshots: " << s.ToString();
      for (uint64_t seq : part) {
        AddUses(retained_[seq], -1);
        retained_.erase(seq);
        roots_.erase(seq);
      }
    }
    auto gc = store_->Gc({});
    ASSERT_TRUE(gc.ok()) << "seed " << seed_ << ": Gc: " << gc.status().ToString();
  }

  // Verify reports nothing; exactly the versions the retained trees name
  // are stored; a version only dropped snapshots named is gone.
  void ExpectVerifyClean(const std::string& when) {
    auto report = store_->Verify();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    for (const std::string& p : report->problems) ADD_FAILURE() << "seed " << seed_ << " " << when << ": verify: " << p;
    EXPECT_EQ(report->snapshots, retained_.size()) << when;
    auto stats = store_->Stats();
    ASSERT_TRUE(stats.ok());
    EXPECT_EQ(stats->versions, uses_.size()) << "seed " << seed_ << " " << when << ": stored versions";
    EXPECT_EQ(stats->snapshots, retained_.size()) << when;
    int checked = 0;
    for (auto& [v, bytes] : contents_) {
      if (uses_.count(v) || checked++ >= 20) continue;
      EXPECT_TRUE(store_->GetManifest(v).status().IsNotFound())
          << "seed " << seed_ << " " << when << ": version " << v.ShortHex() << " is named by no retained tree";
    }
  }

  // Reads back `n` random stored versions (and every version of the head's
  // first files) and compares the bytes.
  void CheckContents(int n, const std::string& when) {
    std::vector<VersionId> sample;
    for (int i = 0; i < n && !versions_.empty(); ++i) sample.push_back(Pick(versions_));
    int head_files = 0;
    for (auto& [path, e] : model_)
      if (e.kind != EntryKind::kDirectory && head_files++ < 10) sample.push_back(e.version);
    for (const VersionId& v : sample) {
      auto it = contents_.find(v);
      if (it == contents_.end()) {
        ADD_FAILURE() << "test: no bytes known for version " << v.ShortHex();
        continue;
      }
      EXPECT_EQ(ReadVersion(store_.get(), v), it->second)
          << "seed " << seed_ << " " << when << ": content of version " << v.ShortHex();
    }
  }

  void Reopen() {
    store_.reset();
    store_ = OpenStore(dir_.Sub("s"));
    auto head = store_->Head();
    ASSERT_TRUE(head.ok() && head->has_value());
    EXPECT_EQ((*head)->seq, head_seq_);
    EXPECT_EQ((*head)->tree, head_root_);
  }

  // The end of every test: all retained snapshots, then tags, drops and gc,
  // then a reopen, each followed by the same checks, and more commits
  // after each.
  void Finale(const Profile& prof) {
    CheckAllRetained("before gc");
    if (::testing::Test::HasFailure()) return;
    ExpectVerifyClean("before gc");
    TagSome(2);
    DropAndGc(0.6);
    CheckAllRetained("after drop+gc");
    ExpectVerifyClean("after drop+gc");
    CheckContents(30, "after drop+gc");
    for (int i = 0; i < 6 && !::testing::Test::HasFailure(); ++i) Commit(RandomEdits(1 + U(3), prof));
    DropAndGc(0.3);
    CheckAllRetained("after a second drop+gc");
    ExpectVerifyClean("after a second drop+gc");
    if (::testing::Test::HasFailure()) return;
    Reopen();
    CheckAllRetained("after reopen");
    ExpectVerifyClean("after reopen");
    CheckContents(30, "after reopen");
    for (int i = 0; i < 6 && !::testing::Test::HasFailure(); ++i) Commit(RandomEdits(1 + U(3), prof));
    ExpectVerifyClean("after reopen and more commits");
  }

 private:
  uint64_t seed_;
  std::mt19937_64 rng_;
  TempDir dir_;
  std::unique_ptr<Store> store_;
  Model model_;
  uint64_t head_seq_ = 0;
  Hash128 head_root_;
  std::map<uint64_t, Model> retained_;
  std::map<uint64_t, Hash128> roots_;
  std::map<VersionId, int> uses_;          // tree entries naming each version, over retained snapshots
  std::vector<VersionId> versions_;        // the keys of uses_
  std::map<VersionId, std::string> contents_;  // every version ever committed
  std::set<uint64_t> tagged_;
  std::vector<std::string> focus_dirs_;
  std::vector<std::string> protected_;
  int64_t clock_ = 0;
  uint64_t bytes_counter_ = 0, missing_counter_ = 0;
  int commits_ = 0, refused_ = 0, edits_ = 0, max_depth_ = 0;
  size_t max_entries_ = 0;
};

#define STOP_ON_FAILURE()                     \
  do {                                        \
    if (::testing::Test::HasFailure()) return; \
  } while (0)

// ---------------------------------------------------------------------------

// Mostly single edits on a tree of a few hundred entries, a fifth of the
// commits several edits at once, a tenth of the edits invalid.
TEST(TreeModelTest, RandomEditsMatchTheModel) {
  for (uint64_t seed : Seeds({101, 102, 103})) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun: CIUICFS_TREE_SEED=" + std::to_string(seed) + ")");
    Harness h(seed);
    Profile prof;
    prof.max_entries = 300;
    for (int i = 0; i < Scaled(250); ++i) {
      h.Commit(h.RandomEdits(h.P(0.2) ? 2 + h.U(5) : 1, prof));
      STOP_ON_FAILURE();
    }
    h.Finale(prof);
    STOP_ON_FAILURE();
  }
}

// Paths 8 to 20 deep; subtrees renamed between deep places, up and down.
TEST(TreeModelTest, DeepPathsMatchTheModel) {
  for (uint64_t seed : Seeds({201, 202})) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun: CIUICFS_TREE_SEED=" + std::to_string(seed) + ")");
    Harness h(seed);
    Profile prof;
    prof.min_depth = 8;
    prof.max_depth = 20;
    prof.max_entries = 250;
    // A 40-deep chain with a file at every fifth level, and a 9-deep one.
    std::vector<Edit> first;
    std::string chain;
    for (int d = 0; d < 40; ++d) {
      chain = Join(chain, "l" + std::to_string(d));
      if (d % 5 == 4) first.push_back(h.PutSome(Join(chain, "f"), 1.0));
    }
    first.push_back(h.PutSome("p/q/r/s/t/u/v/w/x", 1.0));
    ASSERT_TRUE(h.Commit(first));
    std::vector<Edit> moves;  // a deep subtree moved up, one moved deeper, both in one commit
    moves.push_back(Harness::Rename("l0/l1/l2/l3/l4/l5/l6/l7/l8/l9/l10", "top", 0700, h.Tick()));
    moves.push_back(Harness::Rename("p/q/r", "top/l11/l12/pqr", 0755, h.Tick()));
    ASSERT_TRUE(h.Commit(moves));
    STOP_ON_FAILURE();
    ASSERT_FALSE(h.Commit({Harness::Rename("top", "top/l11/l12/pqr/s/t/top", 0755, h.Tick())}));  // into itself
    ASSERT_FALSE(h.Commit({h.PutSome("top/l11/l12/l13/l14/f/below", 1.0)}));  // below a file
    STOP_ON_FAILURE();
    for (int i = 0; i < Scaled(150); ++i) {
      h.Commit(h.RandomEdits(h.P(0.2) ? 2 + h.U(4) : 1, prof));
      STOP_ON_FAILURE();
    }
    h.Finale(prof);
    STOP_ON_FAILURE();
  }
}

// One directory of 2,000-5,000 entries (some of them directories with
// entries of their own), between siblings whose names sort around it;
// batches of inserts, removes and renames at the start, in the middle and
// at the end of its name order, entries moved out to and in from a deep
// directory, the whole directory moved deep and back, single edits too.
TEST(TreeModelTest, BigDirectoryMatchesTheModel) {
  for (uint64_t seed : Seeds({301, 302})) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun: CIUICFS_TREE_SEED=" + std::to_string(seed) + ")");
    Harness h(seed);
    Profile prof;
    prof.max_entries = 6000;
    prof.max_depth = 14;  // random puts reach the big directory when it lives deep too
    prof.invalid_weight = 4;
    std::string big = "w/big";
    const std::string elsewhere = "w/out/d1/d2/d3/d4/d5/d6/d7/d8";
    const std::string deep_home = "deep/a/b/c/d/e/f/g/big";
    h.focus_dirs() = {big, elsewhere, "w"};
    h.protected_paths() = {big};

    std::vector<Edit> first;
    for (int i = 0; i < 40; ++i) first.push_back(h.PutSome("pool/v" + std::to_string(i), 1.0));
    for (const char* sibling : {"w/big-0", "w/big.x", "w/bigger", "w/bia", "w/big0"}) first.push_back(h.PutSome(sibling, 1.0));
    ASSERT_TRUE(h.Commit(first));
    first.clear();
    first.push_back(Harness::PutDir(big, 0755, h.Tick()));
    for (int i = 0; i < 3000; ++i) {
      char name[16];
      std::snprintf(name, sizeof name, "e%05d", 2 * i);
      if (i % 250 == 7) {
        for (const char* child : {"a", "b", "c/d"}) first.push_back(h.PutSome(Join(Join(big, name), child), 0.0));
      } else {
        first.push_back(h.PutSome(Join(big, name), 0.01));
      }
    }
    ASSERT_TRUE(h.Commit(first));
    STOP_ON_FAILURE();

    int counter = 0;
    auto children = [&] { return ModelList(h.model(), big); };
    auto fresh_name = [&](const char* prefix) {
      char name[32];
      std::snprintf(name, sizeof name, "%s%05d", prefix, ++counter);
      return std::string(name);
    };
    size_t min_kids = 1 << 30, max_kids = 0;
    for (int round = 0; round < Scaled(70); ++round) {
      std::vector<TreeEntry> kids = children();
      const size_t n = kids.size();
      // The first half mostly grows the directory towards 5,000 entries, the
      // second half mostly shrinks it towards 2,000.
      const bool grow = round < Scaled(70) / 2;
      if (!grow) min_kids = std::min(min_kids, n);
      max_kids = std::max(max_kids, n);
      std::vector<Edit> edits;
      const int where = static_cast<int>(h.U(3));  // 0: start, 1: middle, 2: end of the name order
      auto run_start = [&](size_t len) -> size_t {
        len = std::min(len, n);
        if (where == 0) return 0;
        if (where == 2) return n - len;
        return h.U(n - len + 1);
      };
      // A fifth of the rounds: random edits (mostly inside the big directory).
      int kind = h.P(0.2) ? -1 : static_cast<int>(h.U(11));
      if (kind >= 0 && h.P(0.5)) kind = grow ? 0 : 1 + static_cast<int>(h.U(2));
      std::string moved_to;
      if (kind == 0 && n < 4600) {  // insert a run
        size_t len = std::min<size_t>(1 + h.U(400), 4900 - n);
        std::string after = kids[run_start(1)].path;
        for (size_t i = 0; i < len; ++i) {
          std::string name = where == 0 ? fresh_name("A") : where == 2 ? fresh_name("z") : "";
          std::string path = name.empty() ? after + "+" + fresh_name("") : Join(big, name);
          edits.push_back(h.P(0.05) ? Harness::PutDir(path, h.DirMode(), h.Tick()) : h.PutSome(path, 0.05));
        }
      } else if (kind == 1 && n > 2400) {  // remove a run
        size_t len = std::min<size_t>(1 + h.U(400), n - 2100), start = run_start(len);
        for (size_t i = start; i < start + len && i < n; ++i) edits.push_back(Harness::Remove(kids[i].path));
      } else if (kind == 2 && n > 2100) {  // remove scattered entries
        std::set<size_t> pick;
        for (int i = 0; i < 60; ++i) pick.insert(h.U(n));
        for (size_t i : pick) edits.push_back(Harness::Remove(kids[i].path));
      } else if (kind == 3) {  // rename a run to the other end, or into the middle
        size_t len = 1 + h.U(200), start = run_start(len);
        const char* prefix = where == 2 ? "A" : where == 0 ? "z" : "m";
        for (size_t i = start; i < start + len && i < n; ++i)
          edits.push_back(Harness::Rename(kids[i].path, Join(big, fresh_name(prefix)), h.FileMode(), h.Tick()));
      } else if (kind == 4) {  // move a run out to a deep directory
        size_t len = 1 + h.U(60), start = run_start(len);
        for (size_t i = start; i < start + len && i < n; ++i)
          edits.push_back(Harness::Rename(kids[i].path, Join(elsewhere, fresh_name("o")), h.FileMode(), h.Tick()));
      } else if (kind == 5) {  // move entries back in, between existing names
        std::vector<TreeEntry> out = ModelList(h.model(), elsewhere);
        for (size_t i = 0; i < out.size() && i < 80; ++i)
          edits.push_back(Harness::Rename(out[i].path, kids[h.U(n)].path + "." + fresh_name(""), out[i].mode, h.Tick()));
        if (edits.empty()) edits.push_back(h.PutSome(Join(elsewhere, fresh_name("o")), 0.5));
      } else if (kind == 6) {  // overwrite entries in place: new versions, modes, kinds
        std::set<size_t> pick;
        for (int i = 0; i < 40; ++i) pick.insert(std::min(n - 1, run_start(40) + h.U(std::min<size_t>(40, n))));
        for (size_t i : pick) {
          const TreeEntry& k = kids[i];
          if (k.kind == EntryKind::kDirectory) edits.push_back(Harness::PutDir(k.path, h.DirMode(), h.Tick()));
          else if (h.P(0.1)) edits.push_back(Harness::PutDir(k.path, h.DirMode(), h.Tick()));
          else edits.push_back(h.PutSome(k.path, 0.1));
        }
      } else if (kind == 7) {  // the whole directory moves deep, or back
        std::string to = big == "w/big" ? deep_home : "w/big";
        edits.push_back(Harness::Rename(big, to, h.DirMode(), h.Tick()));
        if (h.P(0.5)) edits.push_back(h.PutSome(Join(to, fresh_name("m")), 0.5));
        moved_to = to;
      } else if (kind == 8) {  // a child directory with entries renamed, to the start or the end
        std::vector<const TreeEntry*> dirs;
        for (const TreeEntry& k : kids)
          if (k.kind == EntryKind::kDirectory) dirs.push_back(&k);
        if (!dirs.empty()) {
          const TreeEntry* d = dirs[h.U(dirs.size())];
          edits.push_back(Harness::Rename(d->path, Join(big, fresh_name(h.P(0.5) ? "A" : "z")), 0750, h.Tick()));
          edits.push_back(h.PutSome(Join(edits.back().path, fresh_name("new")), 0.5));
        }
      } else if (kind == 9) {  // a doomed batch: many good edits, then one that fails
        for (int i = 0; i < 100; ++i) edits.push_back(Harness::Remove(kids[1 + h.U(n - 2)].path));
        std::sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) { return a.path < b.path; });
        edits.erase(std::unique(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) { return a.path == b.path; }),
                    edits.end());
        edits.push_back(Harness::Rename(kids[0].path, kids[n - 1].path, 0644, h.Tick()));
        EXPECT_FALSE(h.Commit(edits)) << "a doomed batch went through";
        STOP_ON_FAILURE();
        continue;
      }
      if (edits.empty()) edits = h.RandomEdits(1 + h.U(3), prof);
      if (h.Commit(edits) && !moved_to.empty()) {
        big = moved_to;
        h.focus_dirs()[0] = big;
        h.protected_paths()[0] = big;
      }
      STOP_ON_FAILURE();
      ASSERT_TRUE(h.model().count(big)) << "test bug: the big directory is gone";
      // Between batches, a few single-edit commits at the edges.
      if (h.P(0.3)) {
        kids = children();
        if (!kids.empty()) {
          h.Commit({Harness::Remove(h.P(0.5) ? kids.front().path : kids.back().path)});
          h.Commit({h.PutSome(Join(big, fresh_name(h.P(0.5) ? "A" : "z")), 0.5)});
        }
        STOP_ON_FAILURE();
      }
    }
    std::printf("  the big directory grew to %zu entries, then shrank to %zu\n", max_kids, min_kids);
    EXPECT_GE(min_kids, 1900u);  // about 2,000 to 5,000; single random edits may go a little past
    EXPECT_LE(max_kids, 5100u);
    h.Finale(prof);
    STOP_ON_FAILURE();
  }
}

// Several edits per commit, later ones depending on earlier ones: a
// directory made, filled, renamed, partly removed and renamed again inside
// one commit; a commit to the empty tree; an empty commit; a commit whose
// last edit fails, fresh versions and all.
TEST(TreeModelTest, MultiEditCommitsMatchTheModel) {
  for (uint64_t seed : Seeds({401, 402})) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun: CIUICFS_TREE_SEED=" + std::to_string(seed) + ")");
    Harness h(seed);
    Profile prof;
    prof.max_entries = 300;
    prof.invalid_weight = 2;
    // Made and removed in one commit: the empty tree, root zero.
    ASSERT_TRUE(h.Commit({Harness::PutDir("tmp", 0700, h.Tick()), Harness::PutDir("tmp/a/b", 0755, h.Tick()),
                          Harness::Remove("tmp")}));
    Edit f = h.PutSome("p/q/f", 1.0);
    Edit g = h.PutSome("p/g", 1.0);
    ASSERT_TRUE(h.Commit({
        Harness::PutDir("p", 0700, h.Tick()),
        f,
        g,
        h.PutExisting("p/q/f2", EntryKind::kFile, 0600, h.Tick(), f.version(), f.bytes.size()),  // fresh in this commit
        Harness::Rename("p", "r/s", 0750, h.Tick()),
        Harness::Remove("r/s/q/f"),  // its version stays, at r/s/q/f2
        Harness::PutDir("r/s", 0755, h.Tick()),  // a re-put keeps the entries below
        Harness::Rename("r/s/q", "t/u/v/w/q", 0755, h.Tick()),
        Harness::Rename("r/s/g", "t/u/g", 0644, h.Tick()),
        Harness::PutDir("r/s/g", 0700, h.Tick()),  // a directory where a file was
        h.PutSome("r/s/g/h", 1.0),
    }));
    ASSERT_TRUE(h.Commit({}));  // no edits: the same tree again
    // Valid edits, fresh versions among them, then one that fails: nothing.
    EXPECT_FALSE(h.Commit({h.PutSome("x/y", 1.0), Harness::Rename("t", "t2", 0755, h.Tick()), h.PutSome("x/z", 1.0),
                           Harness::Remove("t")}));  // t was renamed away
    EXPECT_FALSE(h.Commit({h.PutSome("x/y", 1.0), Harness::Rename("t", "x/y/t", 0755, h.Tick())}));  // below a file
    EXPECT_FALSE(h.Commit({h.PutSome("ok", 1.0), Harness::Remove("")}));  // a bad path fails before anything runs
    STOP_ON_FAILURE();
    for (int i = 0; i < Scaled(80); ++i) {
      h.Commit(h.RandomEdits(2 + h.U(11), prof));
      STOP_ON_FAILURE();
    }
    h.Finale(prof);
    STOP_ON_FAILURE();
  }
}

// A commit that ingests a fresh version and, in a later edit of the same
// commit, replaces or removes it keeps neither its manifest nor its chunks'
// counts: no tree names it.
TEST(TreeModelTest, AFreshVersionReplacedInItsOwnCommitIsNotKept) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  PendingVersion a = Ingest(store.get(), RandomBytes(1, 5000));
  PendingVersion b = Ingest(store.get(), RandomBytes(2, 5000));
  CommitRequest req;
  req.edits.push_back(TreeEdit::PutFile("f", 0644, 1, &a));
  req.edits.push_back(TreeEdit::PutFile("f", 0644, 2, &b));
  ASSERT_TRUE(store->Commit(req).ok());
  EXPECT_EQ(store->Stats()->versions, 1u);
  EXPECT_TRUE(store->GetManifest(a.id()).status().IsNotFound());
  auto report = store->Verify();
  ASSERT_TRUE(report.ok());
  for (const std::string& p : report->problems) ADD_FAILURE() << p;
}

// Commit accepts paths up to 4096 bytes; a path past LMDB's 511-byte key
// limit gets a `paths` key of its start and its hash (FORMAT.md).
TEST(TreeModelTest, APathLongerThan500BytesCanBeCommitted) {
  TempDir dir;
  auto store = OpenStore(dir.Sub("s"));
  const std::string path = "run/" + std::string(250, 'a') + "/" + std::string(250, 'b') + "/model.pt";  // 514 bytes
  PendingVersion v = Ingest(store.get(), "weights");
  CommitRequest req;
  req.edits.push_back(TreeEdit::PutFile(path, 0644, 1, &v));
  auto snap = store->Commit(req);
  EXPECT_TRUE(snap.ok()) << snap.status().ToString();
  CommitFile(store.get(), "short", "x");  // the store goes on either way
  if (!snap.ok()) return;
  auto e = store->LookupInTree(snap->tree, path);
  ASSERT_TRUE(e.ok() && e->has_value());
  EXPECT_EQ(ReadVersion(store.get(), (*e)->version), "weights");
  EXPECT_EQ(store->PathHistory(path)->size(), 1u);
}

}  // namespace
}  // namespace ciuicfs
