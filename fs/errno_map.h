// The one place a store Status becomes an errno for a FUSE reply.
#ifndef CIUICFS_FS_ERRNO_MAP_H_
#define CIUICFS_FS_ERRNO_MAP_H_

#include "store/store.h"

namespace ciuicfs {

int StatusToErrno(const Status& s);

}  // namespace ciuicfs

#endif  // CIUICFS_FS_ERRNO_MAP_H_
