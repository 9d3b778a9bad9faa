// ciuicfs compact: re-encode stored chunks (byte-grouped zstd, XOR deltas
// against the same path's previous version; store/FORMAT.md "Encoded
// records"), then compact the packs the raw records leave mostly dead.
#include <cstdio>

#include "fs/cli/common.h"
#include "fs/cli/progress.h"

namespace ciuicfs::cli {

int RunCompact(const std::vector<std::string>& args) {
  po::options_description opts("compact options");
  opts.add_options()("wait", po::bool_switch(),
                     "on a mount: wait until every snapshot is re-encoded (a store directory always waits)");
  po::variables_map vm;
  int code;
  auto t = ParseAndOpen("compact", args, opts, "ciuicfs compact /ckpt --wait", StorePositional(), true, &vm, &code);
  if (!t) return code;
  Store* store = t->store;
  if (store->on_rados()) {  // the same line the store gives a direct Reencode
    Fail("compact: " + store->Reencode().message());
    return kExitFailed;
  }
  if (!vm["wait"].as<bool>() && CurrentContext() && CurrentContext()->mount.branch) {
    store->StartReencode();
    std::fprintf(Out(), "re-encoding started in the background; `ciuicfs stats` shows what waits\n");
    return kExitOk;
  }
  auto before = store->Stats();
  ProgressLine reencoding("compact", "re-encoded");
  Status s = before.ok() ? store->Reencode(reencoding.Callback()) : before.status();
  reencoding.Done();
  if (!s.ok()) {
    Fail("compact: " + s.message());
    return kExitFailed;
  }
  ProgressLine compacting("compact", "copied out of mostly-dead packs");
  auto gc = store->Gc({}, compacting.Callback());
  compacting.Done();
  if (!gc.ok()) {
    Fail("compact: " + gc.status().message());
    return kExitFailed;
  }
  auto after = store->Stats();
  if (!after.ok()) {
    Fail("compact: " + after.status().message());
    return kExitFailed;
  }
  const uint64_t was = before->stored_bytes + before->extent_bytes, now = after->stored_bytes + after->extent_bytes;
  std::fprintf(Out(), "stored %s -> %s; %llu of %llu chunks encoded (%llu deltas)\n", HumanBytes(was).c_str(),
               HumanBytes(now).c_str(), (unsigned long long)after->encoded_chunks, (unsigned long long)after->chunks,
               (unsigned long long)after->delta_chunks);
  return kExitOk;
}

}  // namespace ciuicfs::cli
