#include "store/base/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace ciuicfs {

bool CrashPointArmed(const char* name) {
  // Read every time: a forked test child arms it after the parent ran.
  const char* armed = std::getenv("CIUICFS_CRASH_AT");
  return armed != nullptr && std::strcmp(armed, name) == 0;
}

void CrashPoint(const char* name) {
  if (CrashPointArmed(name)) kill(getpid(), SIGKILL);
}

}  // namespace ciuicfs
