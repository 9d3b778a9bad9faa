// ciuicfs diff REF1 REF2 [PATH]: which files changed, and per file how many
// bytes and chunks differ.
#include <cstdio>
#include <map>

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

}  // namespace

int RunDiff(const std::vector<std::string>& args) {
  po::options_description opts("diff options");
  AddStoreOption(&opts);
  opts.add_options()("refs", po::value<std::vector<std::string>>()->multitoken(), "REF1 REF2 [PATH]");
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
  for (int i = 0; i < 2; ++i) {
    auto s = t->store->ResolveRef(refs[i], t->branch);
    if (!s.ok()) return FailStatus("diff", s.status());
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
  int changed = 0;
  for (auto& [path, pair] : all) {
    if (!only.empty() && path != only && path.rfind(only + "/", 0) != 0) continue;
    auto [a, b] = pair;
    if (a && b && a->version == b->version) continue;
    ++changed;
    if (!a) {
      std::fprintf(Out(), "added     %s  (%llu bytes)\n", path.c_str(), (unsigned long long)b->size);
    } else if (!b) {
      std::fprintf(Out(), "removed   %s  (%llu bytes)\n", path.c_str(), (unsigned long long)a->size);
    } else if (!HasVersion(a->kind) || !HasVersion(b->kind)) {  // a special file on one side: no content
      std::fprintf(Out(), "modified  %s  (now a %s)\n", path.c_str(), HasVersion(b->kind) ? "file" : "special file");
    } else {
      auto ma = t->store->GetManifest(a->version);
      auto mb = t->store->GetManifest(b->version);
      if (!ma.ok() || !mb.ok()) {
        Fail((ma.ok() ? mb.status() : ma.status()).message());
        return kExitFailed;
      }
      uint64_t chunks = 0, bytes = 0;
      NewChunks(*ma, *mb, &chunks, &bytes);
      std::fprintf(Out(), "modified  %s  %llu -> %llu bytes; %llu of %zu chunks differ (%llu bytes)\n", path.c_str(),
                  (unsigned long long)a->size, (unsigned long long)b->size, (unsigned long long)chunks,
                  mb->chunks.size(), (unsigned long long)bytes);
    }
  }
  if (changed == 0) std::fprintf(Out(), "no differences\n");
  return kExitOk;
}

}  // namespace ciuicfs::cli
