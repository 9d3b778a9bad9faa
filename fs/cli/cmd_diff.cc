// ciuicfs diff REF1 REF2 [PATH]: which files changed, and per file how many
// bytes and chunks differ; --json: the same as one object.
#include <cstdio>
#include <map>
#include <string>

#include "fs/cli/common.h"

namespace ciuicfs::cli {
namespace {

// Chunks (and their bytes) of `b` that `a` does not have.
void NewChunks(const Manifest& a, const Manifest& b, uint64_t* chunks, uint64_t* bytes) {
  std::map<ChunkId, int> have;
  for (const ChunkRef& c : a.chunks) ++have[c.id];
  for (size_t i = 0; i < b.chunks.size(); ++i) {
    auto it = have.find(b.chunks[i].id);
    if (it != have.end() && it->second > 0) {
      --it->second;
      continue;
    }
    ++*chunks;
    *bytes += b.chunks[i].end - b.ChunkStart(i);
  }
}

// One changed path, as the text line and the JSON object say it.
struct PathChange {
  enum class Kind { kAdded, kRemoved, kModified };
  std::string path;
  Kind kind;
  uint64_t old_size = 0, size = 0;  // added: size; removed: old_size
  const char* now = nullptr;        // modified into or out of a special file: "file" or "special file"
  uint64_t chunks = 0, chunks_differ = 0, bytes_differ = 0;  // modified content
};

const char* KindName(PathChange::Kind k) {
  return k == PathChange::Kind::kAdded ? "added" : k == PathChange::Kind::kRemoved ? "removed" : "modified";
}

std::string Text(const PathChange& c) {
  const std::string kind = KindName(c.kind);
  const std::string name = kind + std::string(10 - kind.size(), ' ') + c.path;
  if (c.kind == PathChange::Kind::kAdded) return name + "  (" + std::to_string(c.size) + " bytes)";
  if (c.kind == PathChange::Kind::kRemoved) return name + "  (" + std::to_string(c.old_size) + " bytes)";
  if (c.now) return name + "  (now a " + c.now + ")";
  return name + "  " + std::to_string(c.old_size) + " -> " + std::to_string(c.size) + " bytes; " +
         std::to_string(c.chunks_differ) + " of " + std::to_string(c.chunks) + " chunks differ (" +
         std::to_string(c.bytes_differ) + " bytes)";
}

std::string Json(const PathChange& c) {
  std::string out = "{\"path\":" + JsonString(c.path) + ",\"change\":\"" + KindName(c.kind) + "\"";
  const bool added = c.kind == PathChange::Kind::kAdded, removed = c.kind == PathChange::Kind::kRemoved;
  if (!added) out += ",\"old_size\":" + std::to_string(c.old_size);
  if (!removed) out += ",\"size\":" + std::to_string(c.size);
  if (c.now) out += ",\"now\":" + JsonString(c.now);
  else if (!added && !removed)
    out += ",\"chunks\":" + std::to_string(c.chunks) + ",\"chunks_differ\":" + std::to_string(c.chunks_differ) +
           ",\"bytes_differ\":" + std::to_string(c.bytes_differ);
  return out + "}";
}

std::string SnapshotJson(const Snapshot& s) {
  return "{\"seq\":" + std::to_string(s.seq) + ",\"id\":\"" + s.id.Hex() + "\",\"step\":" + std::to_string(s.step) + "}";
}

}  // namespace

int RunDiff(const std::vector<std::string>& args) {
  po::options_description opts("diff options");
  AddStoreOption(&opts);
  opts.add_options()("refs", po::value<std::vector<std::string>>()->multitoken(), "REF1 REF2 [PATH]")(
      "json", po::bool_switch(), "one JSON object: both snapshots and every changed path");
  po::positional_options_description pos;
  pos.add("refs", 3);
  po::variables_map vm;
  int code;
  if (!ParseArgs("diff", args, opts, "ciuicfs diff step-1000 latest model.pt --store /ckpt", &vm, &code, &pos))
    return code;
  std::vector<std::string> refs = vm.count("refs") ? vm["refs"].as<std::vector<std::string>>() : std::vector<std::string>();
  if (refs.size() < 2) {
    Fail("diff: needs two snapshots (see 'ciuicfs diff --help')");
    return kExitUsage;
  }
  std::string only = refs.size() > 2 ? refs[2] : "";
  auto t = OpenTarget(vm["store"].as<std::string>(), false);
  if (!t) return kExitFailed;
  Tree trees[2];
  Snapshot snaps[2];
  for (int i = 0; i < 2; ++i) {
    auto s = t->store->ResolveRef(refs[i], t->branch);
    if (!s.ok()) return FailStatus("diff", s.status());
    snaps[i] = *s;
    auto tree = t->store->GetTree(s->tree);
    if (!tree.ok()) {
      Fail(tree.status().message());
      return kExitFailed;
    }
    trees[i] = std::move(tree.value());
  }
  std::map<std::string, std::pair<const TreeEntry*, const TreeEntry*>> all;
  for (const TreeEntry& e : trees[0])
    if (e.kind != EntryKind::kDirectory) all[e.path].first = &e;
  for (const TreeEntry& e : trees[1])
    if (e.kind != EntryKind::kDirectory) all[e.path].second = &e;
  std::vector<PathChange> changes;
  for (auto& [path, pair] : all) {
    if (!only.empty() && path != only && path.rfind(only + "/", 0) != 0) continue;
    auto [a, b] = pair;
    if (a && b && a->version == b->version) continue;
    PathChange c{path, !a ? PathChange::Kind::kAdded : !b ? PathChange::Kind::kRemoved : PathChange::Kind::kModified};
    c.old_size = a ? a->size : 0;
    c.size = b ? b->size : 0;
    if (a && b && (!HasVersion(a->kind) || !HasVersion(b->kind))) {  // a special file on one side: no content
      c.now = HasVersion(b->kind) ? "file" : "special file";
    } else if (a && b) {
      auto ma = t->store->GetManifest(a->version);
      auto mb = t->store->GetManifest(b->version);
      if (!ma.ok() || !mb.ok()) {
        Fail((ma.ok() ? mb.status() : ma.status()).message());
        return kExitFailed;
      }
      NewChunks(*ma, *mb, &c.chunks_differ, &c.bytes_differ);
      c.chunks = mb->chunks.size();
    }
    changes.push_back(std::move(c));
  }
  if (vm["json"].as<bool>()) {
    std::string list = "[";
    for (const PathChange& c : changes) list += (list.size() > 1 ? "," : "") + Json(c);
    std::fprintf(Out(), "{\"from\":%s,\"to\":%s,\"under\":%s,\"changes\":%s]}\n", SnapshotJson(snaps[0]).c_str(),
                 SnapshotJson(snaps[1]).c_str(), JsonString(only).c_str(), list.c_str());
    return kExitOk;
  }
  for (const PathChange& c : changes) std::fprintf(Out(), "%s\n", Text(c).c_str());
  if (changes.empty()) std::fprintf(Out(), "no differences\n");
  return kExitOk;
}

}  // namespace ciuicfs::cli
