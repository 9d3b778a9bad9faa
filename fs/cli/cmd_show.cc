// ciuicfs show REF: one snapshot with its tree.
#include <cstdio>

#include "fs/cli/common.h"
#include "fs/cli/record_text.h"

namespace ciuicfs::cli {

int RunShow(const std::vector<std::string>& args) {
  po::options_description opts("show options");
  opts.add_options()("ref", po::value<std::string>()->required(),
                     "id prefix (8+ hex), step-N, latest, latest~K, a tag, a branch, or best-METRIC (lowest; best-max-METRIC highest)")(
      "json", po::bool_switch(), "one JSON object: the snapshot, its changes and its tree");
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
  const SnapshotRecord record = RecordOrWarn(t->store, *s, "show");
  uint64_t total = 0;
  for (const TreeEntry& e : *tree) total += e.kind == EntryKind::kDirectory ? 0 : e.size;
  if (vm["json"].as<bool>()) {
    std::string entries = "[";
    for (const TreeEntry& e : *tree) {
      const char* kind = e.kind == EntryKind::kDirectory ? "directory"
                         : e.kind == EntryKind::kFile    ? "file"
                         : e.kind == EntryKind::kSymlink ? "symlink"
                                                         : "special";
      entries += std::string(entries.size() > 1 ? "," : "") + "{\"path\":" + JsonString(e.path) + ",\"kind\":\"" +
                 kind + "\",\"mode\":" + std::to_string(e.mode) + ",\"size\":" + std::to_string(e.size) +
                 ",\"mtime_ns\":" + std::to_string(e.mtime_ns) + ",\"version\":\"" +
                 (e.version.IsZero() ? "" : e.version.Hex()) + "\"}";
    }
    std::fprintf(Out(),
                 "{\"seq\":%llu,\"id\":\"%s\",\"parent\":\"%s\",\"step\":%lld,\"time_ns\":%lld,\"bytes_in_files\":%llu,"
                 "\"bytes_added\":%llu,%s,\"changes\":%s,\"tree\":%s]}\n",
                 (unsigned long long)s->seq, s->id.Hex().c_str(), s->parent.IsZero() ? "" : s->parent.Hex().c_str(),
                 (long long)s->step, (long long)s->time_ns, (unsigned long long)total,
                 (unsigned long long)s->bytes_added, RecordJson(record).c_str(), ChangesJson(s->changes).c_str(),
                 entries.c_str());
    return kExitOk;
  }
  std::fprintf(Out(), "snapshot %llu  %s\n", (unsigned long long)s->seq, s->id.Hex().c_str());
  std::fprintf(Out(), "parent   %s\n", s->parent.IsZero() ? "(none)" : s->parent.Hex().c_str());
  std::fprintf(Out(), "step     %lld\ntime     %s\n", (long long)s->step, FormatTime(s->time_ns).c_str());
  std::fprintf(Out(), "bytes    %llu in files; %llu new in packs, the rest shared with earlier snapshots\n",
              (unsigned long long)total, (unsigned long long)s->bytes_added);
  if (!record.empty()) std::fprintf(Out(), "record  %s\n", RecordText(record).c_str());
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
