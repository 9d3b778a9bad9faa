// A snapshot's training record (store/record/README.md) as the commands
// print it: " loss=2.31 eval_loss=2.4" in text, "metrics" and "notes"
// objects in JSON.
#ifndef CIUICFS_FS_CLI_RECORD_TEXT_H_
#define CIUICFS_FS_CLI_RECORD_TEXT_H_

#include <string>

#include "store/store.h"

namespace ciuicfs::cli {

// The record of `s`, or an empty one after a line on Err() when it cannot
// be read (a damaged trainer_state.json chunk: verify names it).
SnapshotRecord RecordOrWarn(Store* store, const Snapshot& s, const std::string& command);
// " key=value" per metric (%.6g) and per note (quoted when it has spaces).
std::string RecordText(const SnapshotRecord& r);
// "\"metrics\":{...},\"notes\":{...}" (numbers round-trip: %.17g).
std::string RecordJson(const SnapshotRecord& r);

}  // namespace ciuicfs::cli

#endif  // CIUICFS_FS_CLI_RECORD_TEXT_H_
