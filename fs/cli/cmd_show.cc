// ciuicfs show REF: one snapshot with its tree.
#include <cstdio>

#include "fs/cli/common.h"

namespace ciuicfs::cli {

int RunShow(const std::vector<std::string>& args) {
  po::options_description opts("show options");
  opts.add_options()("ref", po::value<std::string>()->required(),
                     "id prefix (8+ hex), step-N, latest, latest~K, a tag or a branch");
  po::positional_options_description pos;
  pos.add("ref", 1).add("store", 1);  // the store second, or --store
  po::variables_map vm;
  int code;
  auto t = ParseAndOpen("show", args, opts, "ciuicfs show step-1200 /ckpt", pos, false, &vm, &code);
  if (!t) return code;
  auto s = t->store->ResolveRef(vm["ref"].as<std::string>(), t->branch);
  if (!s.ok()) return FailStatus("show", s.status());
  auto tree = t->store->GetTree(s->tree);
  if (!tree.ok()) {
    Fail(tree.status().message());
    return kExitFailed;
  }
  uint64_t total = 0;
  for (const TreeEntry& e : *tree) total += e.kind == EntryKind::kDirectory ? 0 : e.size;
  std::fprintf(Out(), "snapshot %llu  %s\n", (unsigned long long)s->seq, s->id.Hex().c_str());
  std::fprintf(Out(), "parent   %s\n", s->parent.IsZero() ? "(none)" : s->parent.Hex().c_str());
  std::fprintf(Out(), "step     %lld\ntime     %s\n", (long long)s->step, FormatTime(s->time_ns).c_str());
  std::fprintf(Out(), "bytes    %llu in files; %llu new in packs, the rest shared with earlier snapshots\n",
              (unsigned long long)total, (unsigned long long)s->bytes_added);
  for (const Change& c : s->changes)
    std::fprintf(Out(), "changed  %c %s\n", ChangeKindMark(c.kind), c.path.c_str());
  std::fprintf(Out(), "tree (%zu entries):\n", tree->size());
  for (const TreeEntry& e : *tree) {
    if (e.kind == EntryKind::kDirectory) std::fprintf(Out(), "  %12s  %s/\n", "", e.path.c_str());
    else std::fprintf(Out(), "  %12llu  %s\n", (unsigned long long)e.size, e.path.c_str());
  }
  return kExitOk;
}

}  // namespace ciuicfs::cli
