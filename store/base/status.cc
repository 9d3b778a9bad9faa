#include "store/base/status.h"

#include <cerrno>
#include <cstring>

namespace ciuicfs {

Status Status::FromErrno(int err, const std::string& what) {
  std::string msg = what + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
      return NotFound(std::move(msg));
    case ENOSPC:
    case EDQUOT:
      return NoSpace(std::move(msg));
    case EINVAL:
    case ENAMETOOLONG:
      return InvalidArgument(std::move(msg));
    case EWOULDBLOCK:
      return Busy(std::move(msg));
    case EROFS:
      return ReadOnly(std::move(msg));
    default:
      return IOError(std::move(msg));
  }
}

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code_) {
    case Code::kOk: return "OK";
    case Code::kNotFound: name = "NotFound"; break;
    case Code::kCorruption: name = "Corruption"; break;
    case Code::kIOError: name = "IOError"; break;
    case Code::kInvalidArgument: name = "InvalidArgument"; break;
    case Code::kNoSpace: name = "NoSpace"; break;
    case Code::kBusy: name = "Busy"; break;
    case Code::kReadOnly: name = "ReadOnly"; break;
  }
  return std::string(name) + ": " + message_;
}

}  // namespace ciuicfs
