// The in-memory tree model of tree_model.h: path helpers, printing, edits
// applied as the store applies them, whole commits, seeds.
#include "tests/store/tree_model.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/base/chunk_id.h"
#include "store/base/status.h"
#include "store/index/rows.h"

namespace ciuicfs::tree_model {

// ---------------------------------------------------------------------------
// Paths

bool IsBelow(const std::string& path, const std::string& dir) {
  if (dir.empty()) return !path.empty();
  return path.size() > dir.size() && path[dir.size()] == '/' &&
         path.compare(0, dir.size(), dir) == 0;
}

std::string ParentOf(const std::string& path) {
  size_t s = path.rfind('/');
  return s == npos ? std::string() : path.substr(0, s);
}

int DepthOf(const std::string& path) {
  return path.empty()
             ? 0
             : 1 + static_cast<int>(std::count(path.begin(), path.end(), '/'));
}

bool ValidPath(const std::string& path) {
  if (path.empty() || path.size() > 4096 || path.front() == '/' ||
      path.back() == '/')
    return false;
  for (size_t start = 0;;) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == npos ? npos : slash - start);
    if (part.empty() || part == "." || part == ".." || part.size() > 255 ||
        part.find('\0') != npos)
      return false;
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

// ---------------------------------------------------------------------------
// Printing

const char* KindName(EntryKind k) {
  switch (k) {
    case EntryKind::kFile:
      return "file";
    case EntryKind::kDirectory:
      return "dir";
    case EntryKind::kSymlink:
      return "symlink";
    default:
      return "special";
  }
}

std::string Octal(uint32_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0%o", mode);
  return buf;
}

std::string Show(const TreeEntry& e) {
  return "'" + e.path + "' " + KindName(e.kind) + " mode=" + Octal(e.mode) +
         " size=" + std::to_string(e.size) +
         " mtime=" + std::to_string(e.mtime_ns) + " v=" + e.version.ShortHex();
}

std::string Show(const Change& c) {
  return std::string(ChangeKindName(c.kind)) + " '" + c.path +
         "' v=" + c.version.ShortHex() + " size=" + std::to_string(c.size);
}

// ---------------------------------------------------------------------------
// Edits and the model

std::string Show(const Edit& e) {
  switch (e.op) {
    case Edit::Op::kPutFresh:
      return std::string("put ") + KindName(e.kind) + " '" + e.path + "' " +
             Octal(e.mode) + " (" + std::to_string(e.bytes.size()) +
             " fresh bytes, v=" + e.version().ShortHex() + ")";
    case Edit::Op::kPutExisting:
      return std::string("put existing ") + KindName(e.kind) + " '" + e.path +
             "' " + Octal(e.mode) + " v=" + e.existing.ShortHex();
    case Edit::Op::kPutDir:
      return "put dir '" + e.path + "' " + Octal(e.mode);
    case Edit::Op::kRemove:
      return "remove '" + e.path + "'";
    case Edit::Op::kRename:
      return "rename '" + e.from + "' -> '" + e.path + "' " + Octal(e.mode);
  }
  return "?";
}

std::string Show(const std::vector<Edit>& edits) {
  std::string out;
  for (size_t i = 0; i < edits.size() && i < 40; ++i)
    out += "\n    " + Show(edits[i]);
  if (edits.size() > 40)
    out += "\n    ... (" + std::to_string(edits.size()) + " edits)";
  return out;
}

bool HasChildren(const Model& m, const std::string& dir) {
  auto it = m.lower_bound(dir + "/");
  return it != m.end() && IsBelow(it->first, dir);
}

namespace {

// Erases `dir`'s descendants from `m`, returning them.
std::vector<TreeEntry> TakeBelow(Model& m, const std::string& dir) {
  std::vector<TreeEntry> out;
  auto first = m.lower_bound(dir + "/"), last = first;
  for (; last != m.end() && IsBelow(last->first, dir); ++last)
    out.push_back(last->second);
  m.erase(first, last);
  return out;
}

// The missing directories above `path` appear with 0755 and `mtime`; false
// when one above it is not a directory.
bool AddParents(Model& m, const std::string& path, int64_t mtime) {
  for (size_t s = path.find('/'); s != npos; s = path.find('/', s + 1)) {
    const std::string dir = path.substr(0, s);
    auto it = m.find(dir);
    if (it == m.end())
      m.emplace(dir, TreeEntry{dir, EntryKind::kDirectory, 0755, 0, mtime, {}, {}});
    else if (it->second.kind != EntryKind::kDirectory)
      return false;
  }
  return true;
}

Change MovedChange(const TreeEntry& e) {
  if (e.kind == EntryKind::kDirectory)
    return Change{ChangeKind::kPut, e.path, {}, 0};
  return Change{ChangeKind::kLink, e.path, e.version, e.size};
}

}  // namespace

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
      TreeEntry entry{e.path, EntryKind::kDirectory, e.mode, 0, e.mtime, {}, {}};
      ChangeKind change = ChangeKind::kPut;
      if (e.op != Edit::Op::kPutDir) {
        entry.kind = e.kind;
        entry.version = e.version();
        entry.size = e.op == Edit::Op::kPutFresh ? e.bytes.size() : e.size;
        if (e.op == Edit::Op::kPutExisting) change = ChangeKind::kLink;
      }
      auto it = m.find(e.path);
      if (it != m.end() && it->second.kind == EntryKind::kDirectory &&
          entry.kind != EntryKind::kDirectory && HasChildren(m, e.path))
        return Code::kInvalidArgument;  // a file over a non-empty directory
      if (!AddParents(m, e.path, e.mtime))
        return Code::kInvalidArgument;  // below a file
      changes->push_back(Change{change, e.path, entry.version, entry.size});
      m[e.path] = entry;
      return Code::kOk;
    }
    case Edit::Op::kRename: {
      auto src = m.find(e.from);
      if (src == m.end()) return Code::kNotFound;
      if (m.count(e.path)) return Code::kInvalidArgument;
      if (IsBelow(e.path, e.from))
        return Code::kInvalidArgument;  // into itself
      TreeEntry top = src->second;
      top.path = e.path;
      top.mode = e.mode;
      top.mtime_ns = e.mtime;
      std::vector<TreeEntry> moved = TakeBelow(m, e.from);
      m.erase(e.from);
      if (!AddParents(m, e.path, e.mtime))
        return Code::kInvalidArgument;  // below a file
      for (TreeEntry& d : moved) d.path = e.path + d.path.substr(e.from.size());
      std::sort(moved.begin(), moved.end(),
                [](const TreeEntry& a, const TreeEntry& b) {
                  return DepthFirstLess(a.path, b.path);
                });
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

Expected Simulate(const Model& before, const std::vector<Edit>& edits,
                  const std::function<bool(const VersionId&)>& stored) {
  Expected x;
  for (size_t i = 0; i < edits.size(); ++i)
    if (!ValidPath(edits[i].path) ||
        (edits[i].op == Edit::Op::kRename && !ValidPath(edits[i].from))) {
      x.code = Code::kInvalidArgument;
      x.failing = i;
      return x;
    }
  std::set<VersionId> fresh;
  for (const Edit& e : edits)
    if (e.op == Edit::Op::kPutFresh) fresh.insert(e.version());
  for (size_t i = 0; i < edits.size(); ++i)
    if (edits[i].op == Edit::Op::kPutExisting &&
        !fresh.count(edits[i].existing) && !stored(edits[i].existing)) {
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
  for (auto it = m.lower_bound(prefix);
       it != m.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
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

}  // namespace ciuicfs::tree_model
