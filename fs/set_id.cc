// The set-ID and file capability rules of fs/set_id.h.
#include "fs/set_id.h"

#include <sys/stat.h>

namespace ciuicfs {
namespace {

constexpr const char* kCapabilityXattr = "security.capability";

}  // namespace

bool CarriesSetId(uint32_t mode, const EntryAttrs& attrs) {
  return (mode & (S_ISUID | S_ISGID)) != 0 || attrs.xattrs.count(kCapabilityXattr) > 0;
}

bool DropSetId(SetIdChange change, const SetIdCaller& caller, uint32_t* mode, EntryAttrs* attrs) {
  bool changed = attrs->xattrs.erase(kCapabilityXattr) > 0;
  if (change == SetIdChange::kChown || !caller.privileged) {
    uint32_t bits = *mode & S_ISUID;
    if (*mode & S_ISGID) {
      const bool marks_locking = !(*mode & S_IXGRP);
      if (!marks_locking || !(caller.privileged || (caller.in_group && caller.in_group(attrs->gid)))) bits |= S_ISGID;
    }
    if (bits != 0) {
      *mode &= ~bits;
      changed = true;
    }
  }
  return changed;
}

}  // namespace ciuicfs
