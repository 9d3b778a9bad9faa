// ciuicfs gc: free the chunks that no kept snapshot references and compact
// packs that are mostly garbage.
#include <cstdio>

#include "fs/cli/common.h"
#include "fs/cli/progress.h"

namespace ciuicfs::cli {

int RunGc(const std::vector<std::string>& args) {
  po::options_description opts("gc options");
  opts.add_options()("json", po::bool_switch(), "one JSON object: what gc freed");
  po::variables_map vm;
  int code;
  auto t = ParseAndOpen("gc", args, opts, "ciuicfs gc /data/ckpt-store", StorePositional(), true, &vm, &code);
  if (!t) return code;
  // A mounted store's gc runs in its daemon, which shows no progress
  // (progress.h); a store directory's shows the compaction's.
  ProgressLine progress("gc", "copied out of mostly-dead packs");
  auto st = t->store->Gc({}, progress.Callback());
  progress.Done();
  if (!st.ok()) {
    Fail("gc: " + st.status().message());
    return kExitFailed;
  }
  uint64_t freed = st->bytes_before > st->bytes_after ? st->bytes_before - st->bytes_after : 0;
  if (vm["json"].as<bool>()) {
    std::fprintf(Out(),
                 "{\"bytes_freed\":%llu,\"chunks_deleted\":%llu,\"packs_compacted\":%llu,\"packs_%s\":%llu,"
                 "\"bytes_stored\":%llu}\n",
                 (unsigned long long)freed, (unsigned long long)st->chunks_deleted,
                 (unsigned long long)st->packs_compacted, t->store->on_rados() ? "emptied" : "removed",
                 (unsigned long long)st->packs_deleted, (unsigned long long)st->bytes_after);
    return kExitOk;
  }
  // On RADOS a pack left without a live record is cut to its header, not removed.
  std::fprintf(Out(), "freed %llu bytes (%s): %llu chunks deleted, %llu packs compacted, %llu packs %s; %llu bytes stored\n",
              (unsigned long long)freed, HumanBytes(freed).c_str(), (unsigned long long)st->chunks_deleted,
              (unsigned long long)st->packs_compacted, (unsigned long long)st->packs_deleted,
              t->store->on_rados() ? "emptied" : "removed", (unsigned long long)st->bytes_after);
  return kExitOk;
}

}  // namespace ciuicfs::cli
