#include "fs/errno_map.h"

#include <cerrno>

namespace ciuicfs {

int StatusToErrno(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk: return 0;
    case Status::Code::kNotFound: return ENOENT;
    case Status::Code::kCorruption: return EIO;  // never wrong bytes
    case Status::Code::kIOError: return EIO;
    case Status::Code::kInvalidArgument: return EINVAL;
    case Status::Code::kNoSpace: return ENOSPC;
    case Status::Code::kBusy: return EBUSY;
    case Status::Code::kReadOnly: return EROFS;
  }
  return EIO;
}

}  // namespace ciuicfs
