// What a write, a truncate or a chown leaves of a file's set-user-ID and
// set-group-ID bits and of its file capability (the security.capability
// xattr), by the rules of a local Linux disk. The kernel leaves this to
// the daemon once the mount asks for FUSE_HANDLE_KILLPRIV_V2, and in
// return stops asking for security.capability before every write
// (fs/README.md, "Set-ID bits and file capabilities").
#ifndef CIUICFS_FS_SET_ID_H_
#define CIUICFS_FS_SET_ID_H_

#include <cstdint>
#include <functional>

#include "store/index/rows.h"

namespace ciuicfs {

enum class SetIdChange {
  kWrite,  // a write or a truncate of the content
  kChown,  // a change of owner or group
};

// Who makes the change.
struct SetIdCaller {
  // May keep set-ID bits: CAP_FSETID on a local disk, which libfuse does
  // not pass (the daemon takes uid 0 for it, or the kernel's word where it
  // sends one).
  bool privileged = false;
  // Whether the caller is in group `gid`; asked only of a set-group-ID
  // file whose group may not execute.
  std::function<bool(uint32_t gid)> in_group;
};

// Whether a write, truncate or chown could take anything from a file with
// this mode and these attributes: a set-ID bit or a file capability.
bool CarriesSetId(uint32_t mode, const EntryAttrs& attrs);

// Applies `change` by `caller` to `mode` and `attrs` (owned by
// attrs->gid); returns whether either changed. Both kinds drop the file
// capability, whoever makes them. A write drops set-user-ID and
// set-group-ID for an unprivileged caller only; a chown drops set-user-ID
// for every caller. Set-group-ID without group execute (a mandatory
// locking mark) stays for a caller in the file's group or a privileged
// one.
bool DropSetId(SetIdChange change, const SetIdCaller& caller, uint32_t* mode, EntryAttrs* attrs);

}  // namespace ciuicfs

#endif  // CIUICFS_FS_SET_ID_H_
