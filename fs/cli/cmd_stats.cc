// ciuicfs stats: snapshots, versions, raw bytes (sum of every version's size
// over the chain's changes), stored bytes (pack files) and the dedup ratio.
#include <cstdio>
#include <iostream>

#include "fs/cli/common.h"

namespace ciuicfs::cli {

int RunStats(const std::vector<std::string>& args) {
  po::options_description opts("stats options");
  opts.add_options()("json", po::bool_switch(), "print one JSON object");
  po::variables_map vm;
  int code;
  auto t = ParseAndOpen("stats", args, opts, "ciuicfs stats /ckpt --json", StorePositional(), false, &vm, &code);
  if (!t) return code;
  Store* store = t->store;
  auto st = store->Stats();
  auto snaps = store->ListSnapshots();
  if (!st.ok() || !snaps.ok()) {
    Fail((st.ok() ? snaps.status() : st.status()).message());
    return kExitFailed;
  }
  uint64_t raw = 0;  // every save counted in full, as plain copies would; renames and rollbacks save nothing
  for (const Snapshot& s : *snaps)
    for (const Change& c : s.changes)
      if (c.kind == ChangeKind::kPut) raw += c.size;
  double ratio = st->stored_bytes ? double(raw) / double(st->stored_bytes) : 0.0;
  if (vm["json"].as<bool>()) {
    std::fprintf(Out(), 
        "{\"snapshots\":%llu,\"versions\":%llu,\"chunks\":%llu,\"packs\":%llu,\"raw_bytes\":%llu,"
        "\"stored_bytes\":%llu,\"dedup_ratio\":%.4f}\n",
        (unsigned long long)st->snapshots, (unsigned long long)st->versions, (unsigned long long)st->chunks,
        (unsigned long long)st->pack_files, (unsigned long long)raw, (unsigned long long)st->stored_bytes, ratio);
  } else {
    std::fprintf(Out(), "snapshots     %llu\nversions      %llu\nchunks        %llu\npacks         %llu\n",
                (unsigned long long)st->snapshots, (unsigned long long)st->versions, (unsigned long long)st->chunks,
                (unsigned long long)st->pack_files);
    std::fprintf(Out(), "raw bytes     %llu\nstored bytes  %llu\ndedup ratio   %.2fx\n", (unsigned long long)raw,
                (unsigned long long)st->stored_bytes, ratio);
  }
  return kExitOk;
}

}  // namespace ciuicfs::cli
