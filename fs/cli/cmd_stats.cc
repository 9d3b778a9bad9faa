// ciuicfs stats: snapshots, versions, raw bytes (sum of every version's size
// over the chain's changes), after dedup (the chunks' raw bytes), stored
// bytes (packs and extents), the ratio, and what re-encoding did and has left.
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
  // Stored: packs and extents alike (a save's bytes sit in its extent until
  // the background ingest has cut them into chunks).
  const uint64_t stored = st->stored_bytes + st->extent_bytes;
  double ratio = stored ? double(raw) / double(stored) : 0.0;
  if (vm["json"].as<bool>()) {
    std::fprintf(Out(),
        "{\"snapshots\":%llu,\"versions\":%llu,\"chunks\":%llu,\"packs\":%llu,\"raw_bytes\":%llu,"
        "\"stored_bytes\":%llu,\"pack_bytes\":%llu,\"extent_bytes\":%llu,\"backlog_versions\":%llu,"
        "\"backlog_bytes\":%llu,\"dedup_ratio\":%.4f,\"unique_bytes\":%llu,\"encoded_chunks\":%llu,"
        "\"delta_chunks\":%llu,\"reencode_waiting_bytes\":%llu}\n",
        (unsigned long long)st->snapshots, (unsigned long long)st->versions, (unsigned long long)st->chunks,
        (unsigned long long)st->pack_files, (unsigned long long)raw, (unsigned long long)stored,
        (unsigned long long)st->stored_bytes, (unsigned long long)st->extent_bytes,
        (unsigned long long)st->backlog_versions, (unsigned long long)st->backlog_bytes, ratio,
        (unsigned long long)st->unique_bytes, (unsigned long long)st->encoded_chunks,
        (unsigned long long)st->delta_chunks, (unsigned long long)st->reencode_waiting_bytes);
  } else {
    std::fprintf(Out(), "snapshots     %llu\nversions      %llu\nchunks        %llu\npacks         %llu\n",
                (unsigned long long)st->snapshots, (unsigned long long)st->versions, (unsigned long long)st->chunks,
                (unsigned long long)st->pack_files);
    std::fprintf(Out(), "raw bytes     %llu\nstored bytes  %llu\ndedup ratio   %.2fx\n", (unsigned long long)raw,
                (unsigned long long)stored, ratio);
    std::fprintf(Out(), "after dedup   %llu\nencoded       %llu chunks (%llu deltas); %llu bytes wait to be re-encoded\n",
                (unsigned long long)st->unique_bytes, (unsigned long long)st->encoded_chunks,
                (unsigned long long)st->delta_chunks, (unsigned long long)st->reencode_waiting_bytes);
    std::fprintf(Out(), "backlog       %llu versions, %llu bytes in extents, not ingested yet\n",
                (unsigned long long)st->backlog_versions, (unsigned long long)st->backlog_bytes);
  }
  return kExitOk;
}

}  // namespace ciuicfs::cli
