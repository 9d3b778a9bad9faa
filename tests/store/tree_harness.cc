// Harness (tree_harness.h): construction, and the random edits it draws
// against the model.
#include "tests/store/tree_harness.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/base/chunk_id.h"
#include "store/index/rows.h"
#include "tests/store/test_util.h"
#include "tests/store/tree_model.h"

namespace ciuicfs::tree_model {

using testing::OpenStore;
using testing::RandomBytes;

Harness::Harness(uint64_t seed) : seed_(seed), rng_(seed) {
  store_ = OpenStore(dir_.Sub("s"));
}

Harness::~Harness() {
  std::printf(
      "  seed %llu: %d commits (%d refused as the model said), %d edits, up "
      "to %zu entries and depth %d, %zu snapshots retained of %llu\n",
      static_cast<unsigned long long>(seed_), commits_, refused_, edits_,
      max_entries_, max_depth_, retained_.size(),
      static_cast<unsigned long long>(head_seq_));
}

std::string Harness::Where() const {
  return "seed " + std::to_string(seed_) +
         " (rerun: CIUICFS_TREE_SEED=" + std::to_string(seed_) + "), commit #" +
         std::to_string(commits_);
}

uint32_t Harness::FileMode() {
  static const uint32_t kModes[] = {0644, 0600, 0755, 0444, 0640};
  return kModes[U(5)];
}

uint32_t Harness::DirMode() {
  static const uint32_t kModes[] = {0755, 0700, 0750, 0775};
  return kModes[U(4)];
}

std::string Harness::NextBytes() {
  if (!contents_.empty() && P(0.08))
    return std::next(contents_.begin(), U(contents_.size()))->second;
  if (P(0.02)) return std::string();
  return RandomBytes(seed_ * 1000003 + ++bytes_counter_, 1 + U(300));
}

std::string Harness::NewName() {
  // clang-format off
  static const char* kStems[] = {"a", "a-", "a.", "a0", "b", "ckpt", "d",
                                 "d-1", "d.x", "m", "m+", "m n", "z", "Z", "_",
                                 "~", "0", "step-", "\xc3\xa9t\xc3\xa9"};
  // clang-format on
  if (P(0.01)) return std::string(250, 'L') + std::to_string(U(10));
  std::string stem = kStems[U(sizeof kStems / sizeof kStems[0])];
  return P(0.15) ? stem : stem + std::to_string(U(60));
}

Edit Harness::PutFresh(std::string path, EntryKind kind, uint32_t mode,
                       int64_t mtime, std::string bytes) {
  Edit e;
  e.op = Edit::Op::kPutFresh;
  e.path = std::move(path);
  e.kind = kind;
  e.mode = mode;
  e.mtime = mtime;
  e.bytes = std::move(bytes);
  return e;
}

Edit Harness::PutExisting(std::string path, EntryKind kind, uint32_t mode,
                          int64_t mtime, const VersionId& v,
                          std::optional<uint64_t> size) {
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

Edit Harness::PutDir(std::string path, uint32_t mode, int64_t mtime) {
  Edit e;
  e.op = Edit::Op::kPutDir;
  e.path = std::move(path);
  e.mode = mode;
  e.mtime = mtime;
  return e;
}

Edit Harness::Remove(std::string path) {
  Edit e;
  e.op = Edit::Op::kRemove;
  e.path = std::move(path);
  return e;
}

Edit Harness::Rename(std::string from, std::string to, uint32_t mode,
                     int64_t mtime) {
  Edit e;
  e.op = Edit::Op::kRename;
  e.from = std::move(from);
  e.path = std::move(to);
  e.mode = mode;
  e.mtime = mtime;
  return e;
}

Edit Harness::PutSome(std::string path, double fresh) {
  if (P(fresh) || versions_.empty())
    return PutFresh(std::move(path), FileKind(), FileMode(), Tick(),
                    NextBytes());
  return PutExisting(std::move(path), EntryKind::kFile, FileMode(), Tick(),
                     Pick(versions_));
}

Harness::View Harness::MakeView(const Model& m) {
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

std::string Harness::RandomDir(const View& v, const Profile& prof) {
  if (v.dirs.empty() || P(0.12)) return "";
  if (prof.min_depth == 0) return Pick(v.dirs);
  std::string best = Pick(v.dirs);  // deep runs: the deepest of three
  for (int i = 0; i < 2; ++i) {
    const std::string& d = Pick(v.dirs);
    if (DepthOf(d) > DepthOf(best)) best = d;
  }
  return best;
}

std::string Harness::NewPath(const View& v, const Profile& prof) {
  for (int tries = 0; tries < 20; ++tries) {
    std::string path = NewPathOnce(v, prof);
    if (path.size() <= prof.max_path) return path;
  }
  return "r" + std::to_string(++missing_counter_);
}

std::string Harness::NewPathOnce(const View& v, const Profile& prof) {
  std::string path = RandomDir(v, prof);
  if (DepthOf(path) >= prof.max_depth) path = "";
  int extra = P(0.25) ? 1 + static_cast<int>(U(2)) : 0;
  if (DepthOf(path) + 1 < prof.min_depth)
    extra = prof.min_depth - DepthOf(path) - 1 + static_cast<int>(U(4));
  extra = std::min(extra, std::max(0, prof.max_depth - DepthOf(path) - 1));
  for (int i = 0; i < extra; ++i) path = Join(path, NewName());
  return Join(path, NewName());
}

std::string Harness::MissingPath(const Model& m, const View& v,
                                 const Profile& prof) {
  for (;;) {
    std::string p = Join(RandomDir(v, prof),
                         "missing" + std::to_string(++missing_counter_));
    if (!m.count(p)) return p;
  }
}

std::pair<int, size_t> Harness::ExtentBelow(const Model& m,
                                            const std::string& dir) {
  int depth = DepthOf(dir);
  size_t length = dir.size();
  for (auto it = m.lower_bound(dir + "/");
       it != m.end() && IsBelow(it->first, dir); ++it) {
    depth = std::max(depth, DepthOf(it->first));
    length = std::max(length, it->first.size());
  }
  return {depth - DepthOf(dir), length - dir.size()};
}

std::string Harness::RenameTarget(const Model& m, const View& v,
                                  const Profile& prof, const std::string& src) {
  const auto [below, longer] = ExtentBelow(m, src);
  for (int tries = 0; tries < 20; ++tries) {
    std::string to;
    switch (U(4)) {
      case 0:
        to = Join(ParentOf(src), NewName());
        break;
      case 1:
        to = Join(RandomDir(v, prof), NewName());
        break;
      case 2:
        to = NewPath(v, prof);
        break;
      default:
        to = Join(ParentOf(ParentOf(src)), NewName());
        break;
    }
    if (to != src && !IsBelow(to, src) && !m.count(to) &&
        DepthOf(to) + below <= prof.max_depth + 4 &&
        to.size() + longer <= prof.max_path)
      return to;
  }
  return "r" + std::to_string(++missing_counter_);
}

Edit Harness::InvalidEdit(const Model& m, const View& v, const Profile& prof) {
  std::vector<std::string> all = v.files;
  all.insert(all.end(), v.dirs.begin(), v.dirs.end());
  switch (U(11)) {
    case 1:  // rename of a missing source
      return Rename(MissingPath(m, v, prof), NewPath(v, prof), FileMode(),
                    Tick());
    case 2:  // rename onto an existing path
      if (all.size() >= 2)
        return Rename(Pick(all), Pick(all), DirMode(), Tick());
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
        if (P(0.3) && !all.empty())
          return Rename(Pick(all), to, FileMode(), Tick());
        return PutSome(to, 0.3);
      }
      break;
    case 5:  // a file over a non-empty directory
      if (!v.full_dirs.empty()) return PutSome(Pick(v.full_dirs), 0.5);
      break;
    case 6:  // an existing version the store does not have
      return PutExisting(
          NewPath(v, prof), EntryKind::kFile, FileMode(), Tick(),
          Hash128::Of("never stored " + std::to_string(++missing_counter_)));
    case 7: {  // a bad path, as source or destination
      static const char* kBad[] = {"",     "/a", "a/",    "a//b",  "./a",
                                   "a/..", "..", "a/./b", "b/../c"};
      std::string bad = kBad[U(sizeof kBad / sizeof kBad[0])];
      if (P(0.15)) bad = "x/" + std::string(256, 'y');
      switch (U(4)) {
        case 0:
          return PutSome(bad, 0.5);
        case 1:
          return Remove(bad);
        case 2:
          return Rename(bad, NewPath(v, prof), FileMode(), Tick());
        default:
          return Rename(all.empty() ? "x" : Pick(all), bad, FileMode(), Tick());
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
    default:
      break;
  }
  return Remove(MissingPath(m, v, prof));
}

bool Harness::Protected(const std::string& path) const {
  for (const std::string& p : protected_)
    if (p == path || IsBelow(p, path)) return true;
  return false;
}

Edit Harness::RandomEdit(const Model& m, const Profile& prof) {
  for (;;) {
    Edit e = RandomEditOnce(m, prof);
    if ((e.op == Edit::Op::kRemove && Protected(e.path)) ||
        (e.op == Edit::Op::kRename && Protected(e.from)))
      continue;
    return e;
  }
}

Edit Harness::RandomEditOnce(const Model& m, const Profile& prof) {
  View v = MakeView(m);
  enum {
    kNewFile,
    kOverwrite,
    kExisting,
    kNewDir,
    kRePutDir,
    kDirOverFile,
    kFileOverEmptyDir,
    kRemoveFile,
    kRemoveDir,
    kRenameFile,
    kRenameDir,
    kInvalid,
    kKinds
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
      case kNewFile:
        return PutFresh(NewPath(v, prof), FileKind(), FileMode(), Tick(),
                        NextBytes());
      case kOverwrite:
        if (v.files.empty()) continue;
        return PutFresh(Pick(v.files), FileKind(), FileMode(), Tick(),
                        NextBytes());
      case kExisting: {
        VersionId version;
        // a version fresh in this commit is not in contents_ yet
        std::optional<uint64_t> size;
        if (!v.files.empty() && (versions_.empty() || P(0.6))) {
          const TreeEntry& e = m.at(Pick(v.files));
          version = e.version;
          size = e.size;
        } else if (!versions_.empty()) {
          version = Pick(versions_);
        } else {
          continue;
        }
        std::string path =
            !v.files.empty() && P(0.5) ? Pick(v.files) : NewPath(v, prof);
        return PutExisting(path, FileKind(), FileMode(), Tick(), version, size);
      }
      case kNewDir:
        return PutDir(NewPath(v, prof), DirMode(), Tick());
      case kRePutDir:
        if (v.dirs.empty()) continue;
        return PutDir(Pick(v.dirs), DirMode(), Tick());
      case kDirOverFile:
        if (v.files.empty()) continue;
        return PutDir(Pick(v.files), DirMode(), Tick());
      case kFileOverEmptyDir:
        if (v.empty_dirs.empty()) continue;
        return PutFresh(Pick(v.empty_dirs), FileKind(), FileMode(), Tick(),
                        NextBytes());
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
      default:
        return InvalidEdit(m, v, prof);
    }
  }
}

std::vector<Edit> Harness::RandomEdits(size_t n, const Profile& prof) {
  for (int tries = 0;; ++tries) {
    std::vector<Edit> edits;
    Model sim = model_;
    for (size_t i = 0; i < n; ++i) {
      edits.push_back(RandomEdit(sim, prof));
      std::vector<Change> ignored;
      Model next = sim;
      if (ApplyEdit(next, edits.back(), &ignored) == Code::kOk)
        sim = std::move(next);
    }
    if (!Leaks(edits)) return edits;
    if (tries >= 20)
      return {RandomEdit(model_, prof)};  // one edit keeps what it ingests
  }
}

bool Harness::Leaks(const std::vector<Edit>& edits) {
  Expected x = Simulate(model_, edits,
                        [&](const VersionId& v) { return uses_.count(v) > 0; });
  if (x.code != Code::kOk) return false;
  std::set<VersionId> kept;
  for (auto& [path, e] : x.after)
    if (e.kind != EntryKind::kDirectory) kept.insert(e.version);
  for (const Edit& e : edits)
    if (e.op == Edit::Op::kPutFresh && !kept.count(e.version()) &&
        !uses_.count(e.version()))
      return true;
  return false;
}

}  // namespace ciuicfs::tree_model
